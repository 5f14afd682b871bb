import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';
import { line, readSgeTranscript, sgeProbe } from '../cli/sge-transcript.js';

t.test('SGE\'s admin verbs and job scripts on real agents, compared with real SGE 8.1.9\'s transcripts', async (t) => {
  const farm = await TestFarm.start(t, { leaseGraceMs: 1500, heartbeatMs: 300 });
  await farm.startAgent('node1', { slots: 2, env: { QFARM_NOTIFY_MS: '1500' } });

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
