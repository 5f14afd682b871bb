import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';
import { line, sgeDate, sgeLine, sgeProbe } from '../cli/sge-transcript.js';

t.test('SGE\'s contract on real agents, compared with real SGE 8.1.9\'s transcripts', async (t) => {
  const farm = await TestFarm.start(t, { leaseGraceMs: 1500, heartbeatMs: 300 });
  await farm.startAgent('node1', { slots: 2, env: { QFARM_NOTIFY_MS: '1500' } });

  t.test('a task killed by h_rt is accounted as SGE accounts it (failed 37, exit_status 137)', async (t) => {
    const jobId = await farm.submit(['-cwd', '-l', 'h_rt=0:0:1', '-b', 'y', 'sleep', '30']);
    await farm.waitForJob(jobId, 20_000);
    const acct = (await farm.run('qacct', ['-j', String(jobId)])).stdout;
    t.equal(line(acct, 'failed'), sgeLine('qacct.txt', 'qacct -j 107', 'failed'));
    t.equal(line(acct, 'exit_status'), sgeLine('qacct.txt', 'qacct -j 107', 'exit_status'));
  });

  t.test('-notify: qstat -j says TRUE; qdel sends SIGUSR2, then SIGKILL after the notify period', async (t) => {
    const out = path.join(farm.work, 'notify.out');
    const trapper = await farm.submit(['-notify', '-o', out, '-j', 'y', '-b', 'y', 'sh', '-c', 'trap "echo got USR2; exit 0" USR2; echo started; while :; do sleep 0.1; done']);
    const plain = await farm.submit(['-notify', '-cwd', '-b', 'y', 'sleep', '100']);
    const deaf = await farm.run('qsub', ['-terse', '-cwd', '-b', 'y', 'sh', '-c', 'trap "" USR2; sleep 100']);
    const deafId = Number.parseInt(deaf.stdout, 10);
    const detail = (await farm.run('qstat', ['-j', String(trapper)])).stdout;
    t.equal(line(detail, 'notify'), 'notify:                     TRUE');
    t.equal(line((await farm.run('qstat', ['-j', String(deafId)])).stdout, 'notify'), 'notify:                     FALSE');
    await farm.waitFor(() => fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes('started'), 20_000, 'the trapping task to start');
    await farm.waitFor(async () => (await farm.run('qstat', [])).stdout.split('\n').filter((l) => / r /.test(l)).length >= 2, 20_000, 'two tasks running');
    t.equal((await farm.run('qdel', [String(trapper), String(plain)])).code, 0);
    await farm.waitForJob(trapper, 20_000);
    await farm.waitForJob(plain, 20_000);
    // As in SGE's transcript, the shell also reports its sleep child killed by the same signal.
    t.match(fs.readFileSync(out, 'utf8'), /^started\n(User defined signal 2\n)?got USR2\n$/, 'the job caught SIGUSR2');
    const plainAcct = (await farm.run('qacct', ['-j', String(plain)])).stdout;
    // SGE: a plain sleep dies of the notify signal itself.
    t.equal(line(plainAcct, 'failed'), sgeLine('notify.txt', "qacct -j 136 | grep -E 'failed|exit_status'", 'failed'));
    t.equal(line(plainAcct, 'exit_status'), sgeLine('notify.txt', "qacct -j 136 | grep -E 'failed|exit_status'", 'exit_status'));
    // Without -notify (and with SIGUSR2 ignored, which would not matter), qdel kills at once.
    await farm.run('qdel', [String(deafId)]);
    await farm.waitForJob(deafId, 20_000);
    t.match((await farm.run('qacct', ['-j', String(deafId)])).stdout, /\nexit_status +137 +\(Killed\)\n/);
  });

  t.test('-notify: a job that ignores SIGUSR2 is killed after the agent\'s notify period', async (t) => {
    const jobId = await farm.submit(['-notify', '-cwd', '-b', 'y', 'sh', '-c', 'trap "" USR2; sleep 100']);
    await farm.waitFor(async () => / r /.test((await farm.run('qstat', [])).stdout), 20_000, 'the task to run');
    const t0 = Date.now();
    await farm.run('qdel', [String(jobId)]);
    await farm.waitForJob(jobId, 20_000);
    t.ok(Date.now() - t0 >= 1400, `SIGKILL only after the notify period (${Date.now() - t0} ms)`);
    t.match((await farm.run('qacct', ['-j', String(jobId)])).stdout, /\nfailed +100 : assumedly after job\nexit_status +137 +\(Killed\)\n/);
  });

  t.test('-a: the job waits in qw until its start time, with SGE\'s fields and reason', async (t) => {
    // Far enough ahead that qsub and two qstat calls finish before it, even on a loaded machine.
    const start = Date.now() + 6000;
    const jobId = await farm.submit(['-cwd', '-a', sgeDate(start), '-b', 'y', 'true']);
    const qstat = (await farm.run('qstat', [])).stdout;
    const detail = (await farm.run('qstat', ['-j', String(jobId)])).stdout;
    t.ok(Date.now() < start, 'the checks below ran before the start time');
    t.match(qstat, new RegExp(`\\n +${jobId} .* qw +`), 'qw');
    t.match(line(detail, 'execution_time'), /^execution_time: {13}\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
    t.equal(line(detail, 'scheduling info'), sgeLine('qsub-options.txt', "qstat -j 137 | grep -E 'execution_time|restart|scheduling'", 'scheduling info'));
    await farm.waitForJob(jobId, 20_000);
    const acct = (await farm.run('qacct', ['-j', String(jobId)])).stdout;
    const started = Date.parse(line(acct, 'start_time')!.slice(13));
    t.ok(started >= Math.floor(start / 1000) * 1000, 'started at its start time, not before');
  });

  t.test('-now y: scheduled at once, or refused and deleted with SGE\'s lines', async (t) => {
    const ok = await farm.run('qsub', ['-now', 'y', '-cwd', '-b', 'y', 'true']);
    const id = /Your job (\d+)/.exec(ok.stdout)![1];
    t.equal(ok.code, 0, ok.stderr);
    t.same(ok.stderr.split('\n').slice(0, -1), sgeProbe('qsub-options.txt', 'qsub -now y -b y true').stderr.map((l) => l.replace('142', id!)));
    const blocker = await farm.occupySlots(2);
    const refused = await farm.run('qsub', ['-now', 'y', '-cwd', '-b', 'y', 'true']);
    const sge = sgeProbe('qsub-options.txt', 'qsub -now y -t 1-2 -b y true');
    t.equal(refused.code, sge.exit);
    t.same(refused.stderr.split('\n').slice(0, -1), sge.stderr);
    const refusedId = /Your job (\d+)/.exec(refused.stdout)![1];
    t.notMatch((await farm.run('qstat', [])).stdout, new RegExp(`\\n +${refusedId} `), 'the refused job is gone');
    await blocker.release();
  });

  t.test('-w e|w|v against the connected hosts', async (t) => {
    const v = await farm.run('qsub', ['-w', 'v', '-b', 'y', 'true']);
    t.equal(v.stdout, 'verification: found suitable queue(s)\n');
    t.equal(v.code, 0);
    const e = await farm.run('qsub', ['-w', 'e', '-pe', 'smp', '8', '-b', 'y', 'true']);
    const sgeE = sgeProbe('qsub-options.txt', 'qsub -w e -pe smp 8 -b y true');
    t.equal(e.code, sgeE.exit);
    t.same(e.stderr.split('\n').slice(0, 2), sgeE.stderr);
    const q = await farm.run('qsub', ['-w', 'e', '-q', 'nosuch.q', '-b', 'y', 'true']);
    t.same(q.stderr.split('\n').slice(0, 2), sgeProbe('qsub-options.txt', 'qsub -w e -q nosuch.q -b y true').stderr);
    const w = await farm.run('qsub', ['-w', 'w', '-pe', 'smp', '8', '-b', 'y', 'true']);
    t.match(w.stdout, /^warning: no suitable queues\nYour job (\d+) \("true"\) has been submitted\n$/);
    await farm.run('qdel', [/Your job (\d+)/.exec(w.stdout)![1]!]);
  });
});
