import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('qdel', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, slots: 2 });

  t.test('deleting a running task kills its whole process tree and accounts it as killed', async (t) => {
    const pidFile = path.join(farm.work, 'grandchild.pid');
    // The grandchild escapes the process group with setsid: qdel must still find and kill it.
    const jobId = await farm.submit(['-cwd', '-N', 'sleeper', '-b', 'y', 'sh', '-c', `setsid sleep 300 & echo $! > ${pidFile}; wait`]);
    await farm.waitFor(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() !== '', 15_000, 'the task to start');
    const grandchild = Number(fs.readFileSync(pidFile, 'utf8'));
    t.ok(alive(grandchild), 'grandchild runs');
    const res = await farm.run('qdel', [String(jobId)]);
    t.equal(res.code, 0, res.stderr);
    t.equal(res.stdout, `root has registered the job ${jobId} for deletion\n`);
    await farm.waitForJob(jobId);
    await farm.waitFor(() => !alive(grandchild), 10_000, 'the grandchild to die');
    const acct = await farm.run('qacct', ['-j', String(jobId)]);
    t.match(acct.stdout, /\nfailed\s+100 : assumedly after job\s*\n/);
    t.match(acct.stdout, /\nexit_status\s+137/);
  });

  t.test('deleting pending work removes it; qdel of an unknown job fails like SGE', async (t) => {
    const blocker = await farm.occupySlots(2);
    const pending = await farm.submit(['-cwd', '-b', 'y', 'true']);
    const res = await farm.run('qdel', [String(pending)]);
    t.equal(res.stdout, `root has deleted job ${pending}\n`);
    await farm.waitForJob(pending);
    const acct = await farm.run('qacct', ['-j', String(pending)]);
    t.equal(acct.code, 1, 'a job deleted while pending is not in accounting');
    t.match(acct.stderr, new RegExp(`error: job id ${pending} not found`));
    const unknown = await farm.run('qdel', ['99999']);
    t.equal(unknown.code, 1);
    t.equal(unknown.stdout, 'denied: job "99999" does not exist\n', 'on stdout, as SGE 8.1.9 prints it');
    await blocker.release();
  });

  t.test('qdel JOB.TASK deletes one task of an array', async (t) => {
    const blocker = await farm.occupySlots(2);
    const array = await farm.submit(['-cwd', '-N', 'arr', '-t', '1-4', '-b', 'y', 'true']);
    const res = await farm.run('qdel', [`${array}.2`]);
    t.equal(res.code, 0, res.stderr);
    t.match(res.stdout, new RegExp(`has deleted job-array task ${array}\\.2`));
    const qstat = await farm.run('qstat', []);
    t.match(qstat.stdout, new RegExp(`\\s${array} .* qw .* 1,3,4\\s*\\n`), 'pending tasks listed as SGE does after a task deletion');
    await blocker.release();
    await farm.waitForJob(array);
    for (const task of [1, 3, 4]) t.ok(fs.existsSync(path.join(farm.work, `arr.o${array}.${task}`)), `task ${task} ran`);
    t.notOk(fs.existsSync(path.join(farm.work, `arr.o${array}.2`)), 'task 2 never ran');
  });
});
