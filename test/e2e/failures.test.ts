import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';

interface AccountingRecord {
  taskid: number | null;
  hostname: string;
  attempts: number;
  exitStatus: number;
}

async function accounting(farm: TestFarm, jobId: number): Promise<AccountingRecord[]> {
  return ((await farm.api('GET', `/accounting?job=${jobId}`)) as { records: AccountingRecord[] }).records;
}

async function runningHost(farm: TestFarm, jobId: number): Promise<string | undefined> {
  const rows = ((await farm.api('GET', '/jobs')) as { rows: { jobId: number; state: string; queue: string }[] }).rows;
  const row = rows.find((r) => r.jobId === jobId && r.state === 'r');
  return row?.queue.split('@')[1];
}

t.test('an agent killed with SIGKILL: its task reruns on another host after the lease grace', async (t) => {
  const farm = await TestFarm.start(t, { agents: 2, slots: 1, leaseGraceMs: 1500, heartbeatMs: 300 });
  const jobId = await farm.submit(['-cwd', '-b', 'y', 'sh', '-c', 'sleep 6; echo done']);
  let victim: string | undefined;
  await farm.waitFor(async () => (victim = await runningHost(farm, jobId)) !== undefined, 15_000, 'the task to run');
  await farm.stopProcess(farm.agents.get(victim!), 'SIGKILL');
  await farm.waitForJob(jobId, 30_000);
  const records = await accounting(farm, jobId);
  t.equal(records.length, 1, 'committed exactly once');
  t.not(records[0]!.hostname, victim, 'finished on the surviving host');
  t.equal(records[0]!.attempts, 2, 'the lost attempt counts');
  t.equal(records[0]!.exitStatus, 0);
  t.equal(await farm.hostState(victim!), 'offline');
});

t.test('the master killed with SIGKILL mid-run and restarted: nothing lost, nothing doubled', async (t) => {
  // A grace longer than the agents' reconnect backoff, so running tasks reattach instead of rerunning.
  const farm = await TestFarm.start(t, { agents: 2, slots: 2, leaseGraceMs: 20_000, heartbeatMs: 300 });
  const ran = path.join(farm.work, 'ran.txt');
  const array = await farm.submit(['-cwd', '-N', 'survivor', '-t', '1-8', '-b', 'y', 'sh', '-c', `echo $SGE_TASK_ID >> ${ran}; sleep 1.5`]);
  const held = await farm.submit(['-cwd', '-h', '-b', 'y', 'true']);
  await farm.waitFor(() => fs.existsSync(ran) && fs.readFileSync(ran, 'utf8').trim().split('\n').length >= 4, 15_000, 'four tasks to start');

  await farm.crashAndRestartMaster();

  const qstat = await farm.run('qstat', []);
  t.match(qstat.stdout, new RegExp(`\\s${held} .* hqw `), 'the held job is still queued after the crash');
  await farm.waitForJob(array, 60_000);
  const lines = fs.readFileSync(ran, 'utf8').trim().split('\n').map(Number).sort((a, b) => a - b);
  t.same(lines, [1, 2, 3, 4, 5, 6, 7, 8], 'every task ran exactly once');
  const records = await accounting(farm, array);
  t.same(records.map((r) => r.taskid).sort((a, b) => a! - b!), [1, 2, 3, 4, 5, 6, 7, 8], 'each task committed once');
  t.ok(records.every((r) => r.attempts === 1), 'no task was rerun');
  t.equal((await farm.run('qdel', [String(held)])).code, 0);
});
