import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';
import { readSgeTranscript, sgeProbe } from '../cli/sge-transcript.js';

/** The line of `name` in a qacct/qstat -j block. */
const line = (text: string, name: string): string | undefined => text.split('\n').find((l) => l.split(/\s+/)[0] === name || l.startsWith(`${name}:`));
const sgeLine = (file: string, command: string, name: string): string => line(sgeProbe(file, command).stdout.join('\n'), name)!;

/** `MMDDhhmm.SS` of a local time, for qsub -a. */
function sgeDate(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getMonth() + 1)}${two(d.getDate())}${two(d.getHours())}${two(d.getMinutes())}.${two(d.getSeconds())}`;
}

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

  t.test('qmod -d / -e: a disabled host takes no new work, qstat -f shows d; SGE\'s lines', async (t) => {
    const sge = (command: string): string[] => sgeProbe('qmod.txt', command).stdout;
    const mine = (lines: string[]): string[] => lines.map((l) => l.replace('"all.q@vm"', '"default@node1"').replace(/^\w+@vm changed/, 'WHO changed'));
    const who = (text: string): string => text.replace(/^\S+@\S+ changed/gm, 'WHO changed');
    const d = await farm.run('qmod', ['-d', 'default@node1']);
    t.equal(d.code, 0, d.stderr);
    t.same(who(d.stdout).split('\n').slice(0, -1), mine(sge('qmod -d all.q@vm')));
    const again = await farm.run('qmod', ['-d', 'default@node1']);
    const sgeAgain = readSgeTranscript('qmod.txt').filter((p) => p.command === 'qmod -d all.q@vm')[1]!.stdout;
    t.same(again.stdout.split('\n').slice(0, -1), mine(sgeAgain), 'already disabled: as SGE says it');
    t.equal(again.code, 0);
    t.match((await farm.run('qstat', ['-f'])).stdout, /\ndefault@node1 +BI +0\/0\/2 +\S+ +\S+ +d\n/, 'qstat -f: state d');
    const jobId = await farm.submit(['-cwd', '-b', 'y', 'true']);
    const info = (await farm.run('qstat', ['-j', String(jobId)])).stdout;
    t.match(info, /scheduling info: +queue instance "default@node1" dropped because it is disabled\n/);
    t.equal(sgeProbe('qmod.txt', "qstat -j 148 | grep scheduling").stdout[0], 'scheduling info:            queue instance "all.q@vm" dropped because it is disabled');
    const e = await farm.run('qmod', ['-e', 'node1']);
    t.same(who(e.stdout).split('\n').slice(0, -1), mine(sge('qmod -e all.q@vm')), 'a bare host name works too (qfarm)');
    await farm.waitForJob(jobId, 20_000);
    const bad = await farm.run('qmod', ['-d', 'nosuch@node1']);
    const sgeBad = sgeProbe('qmod.txt', 'qmod -d nosuch@vm');
    t.equal(bad.code, sgeBad.exit);
    t.equal(bad.stdout, 'invalid queue "nosuch@node1"\n');
  });

  t.test('qalter, qhold/qrls and qdel -t say what SGE says, per change and per task', async (t) => {
    const sge = (command: string): string[] => readSgeTranscript('holds-alter-delete.txt').find((p) => p.command === command)!.stdout;
    const held = await farm.submit(['-h', '-cwd', '-b', 'y', 'true']);
    const as = (lines: string[], id: number | string, from: string): string[] => lines.map((l) => l.replace(/^\w+@vm /, 'WHO ').replaceAll(from, String(id)));
    const who = (text: string): string[] => text.split('\n').slice(0, -1).map((l) => l.replace(/^\S+@\S+ sets/, 'WHO sets'));
    t.same(who((await farm.run('qalter', ['-N', 'renamed', '-p', '5', String(held)])).stdout), as(sge('qalter -N renamed -p 5 148'), held, '148'));
    t.same(who((await farm.run('qalter', ['-q', 'default', String(held)])).stdout), as(sge('qalter -q all.q 148'), held, '148'));
    t.same(who((await farm.run('qalter', ['-l', 'h_rt=50', String(held)])).stdout), as(sge('qalter -l h_rt=50 148'), held, '148'));
    await farm.run('qdel', [String(held)]);
    const array = await farm.submit(['-h', '-t', '1-3', '-cwd', '-b', 'y', 'true']);
    t.same((await farm.run('qrls', [String(array)])).stdout.split('\n').slice(0, -1), as(sge('qrls 149'), array, '149'));
    await farm.waitForJob(array, 20_000);
    const blocker = await farm.occupySlots(1);
    const sleeper = await farm.submit(['-t', '1-2', '-cwd', '-b', 'y', 'sleep', '60']);
    await farm.waitFor(async () => new RegExp(`\\n +${sleeper} .* r `).test((await farm.run('qstat', [])).stdout), 20_000, 'a task of the array to run');
    const running = (await farm.run('qstat', [])).stdout.split('\n').find((l) => new RegExp(`^ +${sleeper} .* r `).test(l))!.trim().split(/\s+/).pop()!;
    const pending = running === '1' ? '2' : '1';
    // The pending task first: once the running one is killed, its slot would start the other.
    const delPending = await farm.run('qdel', [String(sleeper), '-t', pending]);
    t.same(delPending.stdout.split('\n').slice(0, -1).map((l) => l.replace(/^\w+ /, 'root ')), as(sge('qdel 171 -t 4'), sleeper, '171').map((l) => l.replace('.4', `.${pending}`)));
    const del = await farm.run('qdel', [String(sleeper), '-t', running]);
    t.same(del.stdout.split('\n').slice(0, -1).map((l) => l.replace(/^\w+ /, 'root ')), as(sge('qdel 171 -t 2'), sleeper, '171').map((l) => l.replace('.2 ', `.${running} `)));
    await farm.waitForJob(sleeper, 20_000);
    // The whole array with one task running, one waiting: SGE registers the running task, then deletes the job.
    const whole = await farm.submit(['-t', '1-2', '-cwd', '-b', 'y', 'sleep', '60']);
    await farm.waitFor(async () => new RegExp(`\\n +${whole} .* r `).test((await farm.run('qstat', [])).stdout), 20_000, 'a task of the array to run');
    const runningTask = (await farm.run('qstat', [])).stdout.split('\n').find((l) => new RegExp(`^ +${whole} .* r `).test(l))!.trim().split(/\s+/).pop()!;
    const sgeWhole = sge('qdel 187').filter((l) => !l.includes('187.2'));
    const delWhole = await farm.run('qdel', [String(whole)]);
    t.same(delWhole.stdout.split('\n').slice(0, -1).map((l) => l.replace(/^\w+ /, 'root ')), as(sgeWhole, whole, '187').map((l) => l.replace(`${whole}.1 `, `${whole}.${runningTask} `)));
    await farm.waitForJob(whole, 20_000);
    await blocker.release();
  });

  t.test('a job script as Nextflow\'s sge executor writes it runs (#$ -notify, -terse, -pe, h_rss)', async (t) => {
    const dir = fs.mkdtempSync(path.join(farm.work, 'nf-'));
    const script = [
      '#!/bin/bash',
      `#$ -wd ${dir}`,
      '#$ -N nf-ALIGN_(1)',
      `#$ -o ${dir}/.command.log`,
      '#$ -j y',
      '#$ -terse',
      '#$ -notify',
      '#$ -q default',
      '#$ -pe smp 1',
      '#$ -l h_rt=00:10:00',
      '#$ -l h_rss=100M,mem_free=100M',
      'echo "ran in $PWD"; echo 0 > .exitcode',
      '',
    ].join('\n');
    fs.writeFileSync(path.join(dir, '.command.run'), script);
    const res = await farm.run('qsub', ['.command.run'], { cwd: dir });
    t.equal(res.code, 0, res.stderr);
    t.match(res.stdout, /^\d+\n$/, '-terse from the script prints the id alone');
    await farm.waitForJob(Number.parseInt(res.stdout, 10), 20_000);
    t.equal(fs.readFileSync(path.join(dir, '.exitcode'), 'utf8'), '0\n');
    t.equal(fs.readFileSync(path.join(dir, '.command.log'), 'utf8'), `ran in ${dir}\n`);
  });

  t.test('-r n: a task whose host is lost is not run again but fails (failed 100, exit_status 137)', async (t) => {
    const lost = await farm.startAgent('lost1', { slots: 1, group: 'doomed' });
    const jobId = await farm.submit(['-r', 'n', '-q', 'doomed', '-cwd', '-b', 'y', 'sleep', '60']);
    t.equal(line((await farm.run('qstat', ['-j', String(jobId)])).stdout, 'restart'), 'restart:                    n');
    await farm.waitFor(async () => / r /.test((await farm.run('qstat', ['-q', 'doomed'])).stdout), 20_000, 'the task to run');
    await farm.stopProcess(lost, 'SIGKILL');
    await farm.waitForJob(jobId, 30_000);
    const acct = (await farm.run('qacct', ['-j', String(jobId)])).stdout;
    t.match(line(acct, 'failed'), /^failed +100 : assumedly after job$/);
    t.match(line(acct, 'exit_status'), /^exit_status +137/);
  });
});
