import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { TestFarm } from '../helpers/farm.js';

/**
 * qsub sends its umask with the job (as SGE does); the master passes it on and the agent applies
 * it to the task, its output files and the files of a `file://` -outdir.
 */
t.test("tasks and their output files follow qsub's umask", async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, slots: 2 });
  const saved = process.umask();
  t.teardown(() => void process.umask(saved));
  for (const [umask, mode] of [
    [0o077, 0o600],
    [0o002, 0o664],
  ] as const) {
    // qsub inherits the test process's umask, as it would a shell's.
    process.umask(umask);
    const made = path.join(farm.work, `made-${umask.toString(8)}`);
    const outputs = path.join(farm.work, `outputs-${umask.toString(8)}`);
    const jobId = await farm.submit(['-cwd', '-N', `u${umask.toString(8)}`, '-outdir', `file://${outputs}/`, '-b', 'y', 'sh', '-c', `umask; touch ${made}; echo r > "$OUTDIR/r.txt"`]);
    process.umask(saved);
    await farm.waitForJob(jobId);
    const out = path.join(farm.work, `u${umask.toString(8)}.o${jobId}`);
    t.equal(fs.readFileSync(out, 'utf8').trim(), `0${umask.toString(8).padStart(3, '0')}`, 'the task runs with it');
    t.equal(fs.statSync(out).mode & 0o777, mode, `stdout file with umask ${umask.toString(8)}`);
    t.equal(fs.statSync(path.join(farm.work, `u${umask.toString(8)}.e${jobId}`)).mode & 0o777, mode, 'stderr file too');
    t.equal(fs.statSync(made).mode & 0o777, mode, 'files the task makes too');
    t.equal(fs.statSync(path.join(outputs, 'r.txt')).mode & 0o777, mode, 'file:// outputs too');
  }
});
