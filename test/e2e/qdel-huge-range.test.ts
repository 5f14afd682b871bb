import * as path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { TestFarm } from '../helpers/farm.js';

/**
 * `qdel -t` of a huge range anywhere in a huge array deletes without a row per task: the range
 * is stored once, the dispatch cursor jumps over it, counts and completion treat it as deleted,
 * and it survives a restart of the master.
 */
t.test('qdel -t of huge ranges in the middle of a 2,000,000,000-task array', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, slots: 2 });
  const jobId = await farm.submit(['-h', '-t', '1-2000000000', '-b', 'y', 'true']);
  const qdel = async (tasks: string) => {
    const started = Date.now();
    const res = await farm.run('qdel', ['-t', tasks, String(jobId)]);
    t.equal(res.code, 0, `qdel -t ${tasks}: ${res.stderr}`);
    t.ok(Date.now() - started < 10_000, `qdel -t ${tasks} answered at once`);
    return res.stdout;
  };
  const store = () => new Database(path.join(farm.home, 'store.sqlite'), { readonly: true });
  const pendingTasks = async (): Promise<string> => {
    const row = (await farm.run('qstat', [])).stdout.split('\n').find((l) => l.trim().startsWith(`${jobId} `));
    return row?.trim().split(/\s+/).at(-1) ?? '';
  };

  // The first four go from the cursor: the cursor moves to 5, as if they had been dispatched.
  t.match(await qdel('1-4'), new RegExp(`has deleted job-array task ${jobId}\\.4\\n`));
  t.match(await qdel('11-2000000000'), new RegExp(`has deleted job-array task ${jobId}\\.11\\n`), 'the huge middle range');
  t.equal(await pendingTasks(), '5-10:1', 'qstat lists what is left');
  await qdel('8-12'); // overlapping
  await qdel('7'); // adjacent
  t.equal(await pendingTasks(), '5-6:1');
  const db = store();
  t.same(db.prepare('SELECT first, last FROM deleted_ranges WHERE job_id = ?').all(jobId), [{ first: 7, last: 2000000000 }], 'one merged range');
  t.equal(db.prepare('SELECT COUNT(*) FROM tasks WHERE job_id = ?').pluck().get(jobId), 0, 'no row per task');
  db.close();

  await farm.crashAndRestartMaster();
  t.equal(await pendingTasks(), '5-6:1', 'the ranges survive a restart of the master');

  t.equal((await farm.run('qrls', [String(jobId)])).code, 0);
  await farm.waitForJob(jobId, 30_000);
  const acct = await farm.run('qacct', ['-j', String(jobId)]);
  t.same([...acct.stdout.matchAll(/^taskid\s+(\d+)/gm)].map((m) => Number(m[1])).sort((a, b) => a - b), [5, 6], 'only the tasks outside the ranges ran, and the job is done');
  const after = store();
  t.equal(after.prepare('SELECT COUNT(*) FROM deleted_ranges WHERE job_id = ?').pluck().get(jobId), 0, 'ranges behind the cursor are dropped');
  after.close();
});
