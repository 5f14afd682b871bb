import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';

/**
 * `-hold_jid_ad` end to end (issue 15): qsub, the master's scheduler and two real agents. Task N
 * of B starts only after task N of A has finished, whatever order A's tasks finish in. The tasks
 * record their own start and end times; the test lets A's tasks finish in the order 3, 1, 4, 2.
 */

interface Event {
  job: 'A' | 'B';
  task: number;
  what: 'start' | 'end';
  atNs: bigint;
}

function events(file: string): Event[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const [job, task, what, at] = line.split(' ');
      return { job: job as Event['job'], task: Number(task), what: what as Event['what'], atNs: BigInt(at!) };
    });
}

t.test('-hold_jid_ad: task N of B starts only after task N of A, in the order A finishes', async (t) => {
  const farm = await TestFarm.start(t);
  await farm.startAgent('node1', { slots: 4 });
  await farm.startAgent('node2', { slots: 4 });
  const log = path.join(farm.work, 'events.txt');
  const gates = path.join(farm.work, 'gates');
  fs.mkdirSync(gates);
  // One line per event, appended with a single write (O_APPEND keeps lines whole).
  const record = (job: string, what: string) => `printf '%s\\n' "${job} $SGE_TASK_ID ${what} $(date +%s%N)" >> ${log}`;
  const a = await farm.submit(['-q', 'default', '-cwd', '-N', 'A', '-t', '1-4', '-b', 'y', 'sh', '-c', `${record('A', 'start')}; while [ ! -e ${gates}/$SGE_TASK_ID ]; do sleep 0.05; done; ${record('A', 'end')}`]);
  const b = await farm.submit(['-q', 'default', '-cwd', '-N', 'B', '-t', '1-4', '-hold_jid_ad', String(a), '-b', 'y', 'sh', '-c', `${record('B', 'start')}; ${record('B', 'end')}`]);
  await farm.waitFor(() => events(log).filter((e) => e.job === 'A' && e.what === 'start').length === 4, 30_000, "A's four tasks to start");

  const qstat = await farm.run('qstat', []);
  t.match(qstat.stdout, new RegExp(`^\\s*${b} .* hqw .* 1-4:1\\s*$`, 'm'), "B's four tasks wait (hqw) while A's run, with 4 free slots");
  const detail = await farm.run('qstat', ['-j', String(b)]);
  t.match(detail.stdout, new RegExp(`^ja_ad_predecessor_list:\\s+${a}\\s*$`, 'm'), 'qstat -j names the array predecessor');

  const bStarted = () => events(log).filter((e) => e.job === 'B' && e.what === 'start').map((e) => e.task);
  const order = [3, 1, 4, 2];
  for (const [i, task] of order.entries()) {
    fs.writeFileSync(path.join(gates, String(task)), '');
    await farm.waitFor(() => bStarted().includes(task), 30_000, `B.${task} to start after A.${task} finished`);
    t.same(bStarted(), order.slice(0, i + 1), `after A.${task} finished, B has started tasks ${order.slice(0, i + 1).join(', ')} and no other`);
  }
  await farm.waitForJob(a);
  await farm.waitForJob(b);

  const all = events(log);
  const at = (job: 'A' | 'B', task: number, what: 'start' | 'end') => {
    const found = all.filter((e) => e.job === job && e.task === task && e.what === what);
    if (found.length !== 1) throw new Error(`expected one "${job} ${task} ${what}" event, got ${found.length}`);
    return found[0]!.atNs;
  };
  for (let task = 1; task <= 4; task++) {
    const gap = at('B', task, 'start') - at('A', task, 'end');
    t.ok(gap > 0n, `B.${task} started ${gap / 1_000_000n} ms after A.${task} ended`);
  }
  const aEnds = [1, 2, 3, 4].sort((x, y) => Number(at('A', x, 'end') - at('A', y, 'end')));
  t.same(aEnds, order, "A's tasks finished out of order: 3, 1, 4, 2");
  const records = ((await farm.api('GET', `/accounting?job=${b}`)) as { records: { taskid: number; exitStatus: number; attempts: number }[] }).records;
  t.same(records.map((r) => [r.taskid, r.exitStatus, r.attempts]).sort((x, y) => x[0]! - y[0]!), [[1, 0, 1], [2, 0, 1], [3, 0, 1], [4, 0, 1]], 'each of B\'s tasks ran once and succeeded');
});
