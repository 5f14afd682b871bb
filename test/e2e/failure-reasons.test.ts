import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';
import { BYSTANDER, ensureUser, requireRoot } from '../helpers/unix-users.js';
import { readSgeTranscript } from '../cli/sge-transcript.js';

/** Always say why (issue 13): a rejected queue at submit, a failed task's reason where people look. */

t.test('qsub -q with a queue nobody serves is rejected at submit with SGE\'s words', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1 });
  const sge = readSgeTranscript('operating.txt').filter((p) => p.command.startsWith('qsub -q '));
  t.ok(sge.length >= 4, 'the SGE transcript has the probes');
  for (const probe of sge) {
    // SGE's queue all.q is qfarm's group `default`; its host vm is our agent node1.
    const queue = probe.command.split(' ')[2]!.replace('all.q', 'default').replace('@vm', '@node1');
    const ours = await farm.run('qsub', ['-q', queue, '-b', 'y', 'true']);
    t.equal(ours.code, probe.exit, `${probe.command}: exit status`);
    const want = probe.stderr.map((l) => l.replace('all.q', 'default').replace('@vm', '@node1'));
    t.same(ours.stderr.split('\n').slice(0, want.length), want, `${probe.command}: SGE's lines`);
    t.match(ours.stderr, /hint: the farm's queues \(groups\) are: default;/, 'and which queues exist');
  }
  t.equal((await farm.run('qstat', [])).stdout, '', 'nothing was queued');
  for (const known of ['default', 'default@node1', 'def*', '*@node1']) {
    const ok = await farm.run('qsub', ['-q', known, '-o', '/dev/null', '-e', '/dev/null', '-b', 'y', 'true']);
    t.equal(ok.code, 0, `-q ${known} is accepted: ${ok.stderr}`);
  }
});

t.test('a task that cannot open its output file: qsub -sync y, qacct and qstat -j name the path', async (t) => {
  requireRoot();
  const bob = ensureUser(BYSTANDER);
  const farm = await TestFarm.start(t, { agents: 1, slots: 2 });
  const target = path.join(farm.work, 'no-such-dir', 'out.txt');
  fs.chmodSync(farm.work, 0o755);
  const sync = await farm.runAs(bob, 'qsub', ['-sync', 'y', '-o', target, '-e', '/dev/null', '-b', 'y', 'true'], { cwd: '/tmp' });
  t.equal(sync.code, 1, sync.stderr);
  const jobId = Number(/Your job (\d+)/.exec(sync.stdout)![1]);
  t.match(sync.stderr, new RegExp(`^Unable to run job ${jobId}\nJob ${jobId} failed before it ran: .*${target.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`, 'm'), 'SGE\'s -sync line, then one naming the file');
  t.notMatch(sync.stderr, /exited with exit code 0/);

  const acct = await farm.runAs(bob, 'qacct', ['-j', String(jobId)]);
  t.match(acct.stdout, new RegExp(`^failed {7}26  : opening input/output file: .*${path.basename(path.dirname(target))}`, 'm'), 'SGE\'s failed line, then the reason with the path');

  // qstat -j shows jobs still in the system: an array whose task 1 failed while task 2 runs.
  fs.mkdirSync(path.join(farm.work, 'o2'), { mode: 0o777 });
  fs.chmodSync(path.join(farm.work, 'o2'), 0o777);
  const array = await farm.runAs(bob, 'qsub', ['-t', '1-2', '-o', path.join(farm.work, 'o$TASK_ID', 'out'), '-e', '/dev/null', '-b', 'y', 'sleep', '30'], { cwd: '/tmp' });
  const arrayId = Number(/Your job-array (\d+)/.exec(array.stdout)![1]);
  t.teardown(() => farm.run('qdel', [String(arrayId)]));
  let detail = '';
  await farm.waitFor(async () => /^error reason/m.test((detail = (await farm.runAs(bob, 'qstat', ['-j', String(arrayId)])).stdout)), 20_000, 'task 1 to fail');
  t.match(detail, /^error reason {10}1: {6}\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d: error: .*o1\/out/m, 'qstat -j has SGE\'s error reason line for task 1, naming its file');
  t.notMatch(detail, /^error reason {10}2:/m, 'and none for the running task 2');
});

t.test('qfarm render submit -d | head ends quietly (a reader that stops early is not an error)', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { ROOT } = await import('../helpers/farm.js');
  const r = spawnSync('bash', ['-c', `"${ROOT}/bin/qfarm" render submit -d --scene /tmp/none.blend -s 1 -e 5000 2>/dev/null | head -1 >/dev/null; echo "\${PIPESTATUS[0]}"`], { encoding: 'utf8', cwd: '/tmp' });
  t.equal(r.stdout.trim(), '0', 'exit 0, not an EPIPE crash');
  const withErr = spawnSync('bash', ['-c', `"${ROOT}/bin/qfarm" render submit -d --scene /tmp/none.blend -s 1 -e 5000 | head -1 >/dev/null`], { encoding: 'utf8', cwd: '/tmp' });
  t.notMatch(withErr.stderr, /EPIPE|Error:/);
});
