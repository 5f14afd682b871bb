import t from 'tap';
import { TestFarm } from '../helpers/farm.js';
import { ATTACKER, ensureUser, requireRoot } from '../helpers/unix-users.js';

// Issue 16.3: a node that fails every task at once (here: its scratch directory is missing, so
// no task can be set up) must not consume the queue. It goes into SGE's error state E after
// 3 consecutive setup failures, its failed tasks run on the other nodes, and qmod -c clears it.
requireRoot();
const mallory = ensureUser(ATTACKER);

interface AccountingRecord {
  taskid: number | null;
  hostname: string;
  exitStatus: number;
  failedCode: number;
  attempts: number;
}

t.test('one broken node among three: the queue finishes on the others, the node shows E until qmod -c', async (t) => {
  const farm = await TestFarm.start(t);
  await farm.startAgent('node1');
  await farm.startAgent('node2');
  await farm.startAgent('node3', { env: { QFARM_TMP_ROOT: '/nonexistent/scratch' } });

  const submitted = await farm.run('qsub', ['-terse', '-q', 'default', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', '-t', '1-24', '/bin/sh', '-c', 'sleep 0.2']);
  t.equal(submitted.code, 0, submitted.stderr);
  const jobId = Number(submitted.stdout.trim().split('.')[0]);
  await farm.waitForJob(jobId, 90_000);

  const records = ((await farm.api('GET', `/accounting?job=${jobId}`)) as { records: AccountingRecord[] }).records;
  t.equal(records.length, 24, 'every task was committed once');
  t.same(records.filter((r) => r.exitStatus !== 0 || r.failedCode !== 0), [], 'every task succeeded');
  t.same(records.filter((r) => r.hostname === 'node3'), [], 'none ran on the broken node');
  t.ok(records.every((r) => r.attempts <= 2), 'a task that failed on the broken node was not tried there again');
  t.ok(records.filter((r) => r.attempts === 2).length <= 3, 'the broken node failed at most 3 tasks before it was taken out');

  const full = await farm.run('qstat', ['-f']);
  t.equal(full.code, 0, full.stderr);
  const line = full.stdout.split('\n').find((l) => l.startsWith('default@node3 '));
  t.match(line, /^default@node3 +BI +0\/0\/1 +\S+ +lx-amd64 +E$/, 'qstat -f shows the broken node in state E');
  // SGE's column (test/fixtures/sge/host-error.txt: the states start at column 75).
  t.equal(line?.indexOf('E', 60), 75, 'in the states column');
  t.notMatch(full.stdout, /^default@node[12] .*E$/m, 'the healthy nodes are not in error');
  const qhost = await farm.run('qhost', ['-q']);
  t.equal(qhost.code, 0, qhost.stderr);
  t.match(qhost.stdout, /^node3 .*\n {3}default {14}BI {4}0\/0\/1 {9}E\n/m, 'qhost -q shows E under the host, as SGE prints it');
  t.match(farm.masterLogText(), /host put in error state E/);
  // A job that could only run there waits, with SGE's reason.
  const stuck = await farm.run('qsub', ['-terse', '-q', 'default@node3', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', '/bin/true']);
  const detail = await farm.run('qstat', ['-j', stuck.stdout.trim()]);
  t.match(detail.stdout, /queue instance "default@node3" dropped because it is temporarily not available/);
  t.equal((await farm.run('qdel', [stuck.stdout.trim()])).code, 0, 'deleted before the node is cleared (it would fail there again)');

  // Only root and managers clear it (SGE's words for everyone else).
  const denied = await farm.runAs(mallory, 'qmod', ['-c', 'default@node3']);
  t.equal(denied.code, 1);
  t.equal(denied.stdout, `${ATTACKER} - you have no permission to modify queue "default@node3"\n`);
  t.match((await farm.run('qstat', ['-f'])).stdout, /^default@node3 .* E$/m, 'still in error');

  const cleared = await farm.run('qmod', ['-c', 'default@node3']);
  t.equal(cleared.code, 0, cleared.stderr);
  t.match(cleared.stdout, /^root@\S+ changed state of "default@node3" \(no error\)\n$/);
  t.notMatch((await farm.run('qstat', ['-f'])).stdout, /^default@node3 .*E$/m, 'qmod -c cleared it');
  const again = await farm.run('qmod', ['-c', 'node3']);
  t.equal(again.stdout, 'Queue instance "default@node3" is already in the specified state: no error\n');
  t.equal(again.code, 0);
});

t.test("failures of one job, or of one user's jobs, do not put hosts in error; a success ends a streak", async (t) => {
  const farm = await TestFarm.start(t);
  await farm.startAgent('node1');
  const quiet = ['-terse', '-q', 'default', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null'];
  const failing = await farm.run('qsub', [...quiet, '-t', '1-5', '/bin/false']);
  const jobId = Number(failing.stdout.trim().split('.')[0]);
  await farm.waitForJob(jobId, 30_000);
  t.notMatch((await farm.run('qstat', ['-f'])).stdout, /E$/m, "one job's own failures are that job's problem");
  const ok = Number((await farm.run('qsub', [...quiet, '/bin/true'])).stdout.trim());
  await farm.waitForJob(ok, 30_000);
  // A hostile user's failing jobs, one after another: the host is not theirs to take out of service.
  for (let i = 0; i < 4; i++) {
    const theirs = Number((await farm.runAs(mallory, 'qsub', [...quiet, '/bin/false'])).stdout.trim());
    await farm.waitForJob(theirs, 30_000);
  }
  t.notMatch((await farm.run('qstat', ['-f'])).stdout, /E$/m, "four failing jobs of one user in a row: that user's problem");
  const another = Number((await farm.run('qsub', [...quiet, '/bin/false'])).stdout.trim());
  await farm.waitForJob(another, 30_000);
  t.match((await farm.run('qstat', ['-f'])).stdout, /^default@node1 .* E$/m, "then another user's job fails there too: the host fails everyone's, E");
  t.match(farm.masterLogText(), /tasks of 5 different jobs \([\d, ]+\) of 2 users failed in a row on host node1/);
});
