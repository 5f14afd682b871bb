import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { FakeOssServer } from '../../fakes/oss/server.js';
import { TestFarm } from '../helpers/farm.js';
import { ATTACKER, ensureUser, requireRoot, runAsUser } from '../helpers/unix-users.js';

// Issue 16.1: every task of a job maps one input to one node path. Whatever the other tasks of
// its node are doing (staging the same prefix, under OSS faults), a task sees the complete,
// final tree from its first instruction, and it does not change while the task runs.
requireRoot();
const mallory = ensureUser(ATTACKER);
const KEY = { accessKeyId: 'LTAIqfarmshared1', accessKeySecret: 'shared-secret-51ab' };
const BUCKET = 'refs';

/** Names and contents of every file under `dir`, as the tasks compute it (same command). */
const DIGEST = `cd "$1" && find . -type f | LC_ALL=C sort | while IFS= read -r f; do printf '%s ' "$f"; sha256sum < "$f"; done | sha256sum | cut -c1-64`;

interface AccountingRecord {
  taskid: number | null;
  exitStatus: number;
  failedCode: number;
  failedReason: string;
}

t.test('many tasks per node staging one prefix under OSS faults all see the source tree, whole', async (t) => {
  const oss = await FakeOssServer.start({ keys: [KEY], buckets: [BUCKET] });
  t.teardown(() => oss.close());
  const ossEnv = { QFARM_OSS_ENDPOINT: oss.url, ALIBABA_CLOUD_ACCESS_KEY_ID: KEY.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: KEY.accessKeySecret, QFARM_OSS_MOUNT: '0' };
  // The source, also written locally to digest it the way the tasks will.
  const work = path.join(mallory.home, `shared-inputs-${process.pid}`);
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  const local = path.join(work, 'source');
  const put = async (key: string, body: Buffer): Promise<void> => {
    await oss.seed(BUCKET, `refs/${key}`, body);
    fs.mkdirSync(path.dirname(path.join(local, key)), { recursive: true });
    fs.writeFileSync(path.join(local, key), body);
  };
  for (let i = 0; i < 300; i++) await put(`small/f${String(i).padStart(4, '0')}.txt`, Buffer.from(`small file ${i} ${'x'.repeat(i % 97)}\n`));
  await put('big/plate.exr', randomBytes(24 * 1024 * 1024));
  const sourceDigest = execFileSync('/bin/sh', ['-c', DIGEST, 'digest', local], { encoding: 'utf8' }).trim();
  fs.rmSync(local, { recursive: true, force: true });
  // The results directory is the user's: tasks write their digests there.
  const results = path.join(work, 'results');
  fs.mkdirSync(results, { recursive: true });
  fs.chownSync(work, mallory.uid, mallory.gid);
  fs.chownSync(results, mallory.uid, mallory.gid);

  // OSS dropping requests: 503s and connection resets on downloads, a listing that fails once.
  oss.faults.add({ kind: 'status', status: 503, op: 'GetObject', key: /small\/f00[0-4]\d/, times: 40 });
  oss.faults.add({ kind: 'reset', op: 'GetObject', key: /big\/plate/, times: 2 });
  oss.faults.add({ kind: 'status', status: 500, op: 'ListObjectsV2', times: 1 });

  const farm = await TestFarm.start(t);
  for (const name of ['node1', 'node2']) await farm.startAgent(name, { slots: 4, env: ossEnv });
  const target = path.join(work, 'mnt', 'refs');
  // Each task digests the tree at its first instruction, works a little, and digests it again.
  const script = [
    '#!/bin/sh',
    `digest() { ${DIGEST}; }`,
    `first=$(digest ${target})`,
    'sleep 0.$((SGE_TASK_ID % 5))',
    `second=$(digest ${target})`,
    `hidden=$(ls -A ${target}/small | grep -c '^\\.' || true)`,
    `echo "$first $second $hidden" > ${results}/$JOB_ID.$SGE_TASK_ID`,
    '',
  ].join('\n');
  const submit = async (tasks: string): Promise<number> => {
    const res = await farm.runAs(mallory, 'qsub', ['-terse', '-q', 'default', '-cwd', '-o', '/dev/null', '-e', '/dev/null', '-t', tasks, '-data', `oss://${BUCKET}/refs/:${target}:ro`], { input: script, cwd: work });
    if (res.code !== 0) throw new Error(`qsub as ${mallory.name} failed: ${res.stderr}`);
    return Number(res.stdout.trim().split('.')[0]);
  };
  // Two jobs, the second submitted while the first's 16 tasks stage and run 4 at a time per node.
  const first = await submit('1-16');
  const second = await submit('1-8');
  await farm.waitForJob(first, 180_000);
  await farm.waitForJob(second, 180_000);

  for (const [jobId, count] of [[first, 16], [second, 8]] as const) {
    const records = ((await farm.api('GET', `/accounting?job=${jobId}`)) as { records: AccountingRecord[] }).records;
    t.same(records.filter((r) => r.failedCode !== 0 || r.exitStatus !== 0), [], `job ${jobId}: every task succeeded`);
    for (let task = 1; task <= count; task++) {
      const [seenFirst, seenLater, hidden] = fs.readFileSync(path.join(results, `${jobId}.${task}`), 'utf8').trim().split(' ');
      t.equal(seenFirst, sourceDigest, `job ${jobId} task ${task}: the tree at its first instruction is the source's`);
      if (seenFirst !== sourceDigest) t.comment(fs.readFileSync(path.join(results, `${jobId}.${task}`), 'utf8'));
      t.equal(seenLater, sourceDigest, `job ${jobId} task ${task}: the tree did not change while it ran`);
      t.equal(hidden, '0', `job ${jobId} task ${task}: no temporary names in the tree`);
    }
  }
  // Staged once per node (two agents on this machine share the path: the second reuses the first's tree).
  const logs = ['node1', 'node2'].map((n) => fs.readFileSync(path.join(farm.home, `agent-${n}.log`), 'utf8'));
  const stagings = logs.map((l) => (l.match(/input staged and published/g) ?? []).length);
  t.ok(stagings[0]! + stagings[1]! <= 2, `the prefix was published at most once per agent (${stagings.join(' + ')} stagings for 24 tasks)`);
  const owner = fs.statSync(target);
  t.equal(owner.uid, mallory.uid, 'the published tree is the user\'s');
  const left = fs.readdirSync(path.dirname(target)).filter((n) => /\.qfarm-(stage|old)\./.test(n));
  t.same(left, [], 'no build directories are left behind');
});

t.test('a node path mapped to another source while a task uses it is refused to the later task, with the reason', async (t) => {
  const farm = await TestFarm.start(t);
  await farm.startAgent('solo', { slots: 2 });
  const work = path.join(mallory.home, `shared-conflict-${process.pid}`);
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  for (const [name, text] of [['a', 'scene A\n'], ['b', 'scene B\n']]) {
    fs.mkdirSync(path.join(work, name), { recursive: true });
    fs.writeFileSync(path.join(work, name, 'scene.txt'), text);
  }
  execFileSync('chown', ['-R', `${mallory.uid}:${mallory.gid}`, work]);
  const target = path.join(work, 'mnt');
  const qsub = async (source: string, command: string): Promise<number> => {
    const res = await farm.runAs(mallory, 'qsub', ['-terse', '-q', 'default', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', '-data', `file://${source}/:${target}:ro`, '/bin/sh', '-c', command], { cwd: work });
    if (res.code !== 0) throw new Error(`qsub failed: ${res.stderr}`);
    return Number(res.stdout.trim());
  };
  const holder = await qsub(path.join(work, 'a'), `cat ${target}/scene.txt > ${work}/holder.out; sleep 4`);
  await farm.waitFor(() => fs.existsSync(path.join(work, 'holder.out')), 20_000, 'the first job to start');
  const later = await qsub(path.join(work, 'b'), `cat ${target}/scene.txt > ${work}/later.out`);
  await farm.waitForJob(later, 30_000);
  const records = ((await farm.api('GET', `/accounting?job=${later}`)) as { records: AccountingRecord[] }).records;
  t.equal(records.length, 1);
  t.not(records[0]!.failedCode, 0, 'the later task failed before it ran');
  t.match(records[0]!.failedReason, new RegExp(`${target} on this node holds file://${work}/a/:ro .*used by 1 running task.*map it to another path`), 'the reason names the path, the source holding it and what to do');
  t.notOk(fs.existsSync(path.join(work, 'later.out')), 'the later task never ran');
  await farm.waitForJob(holder, 30_000);
  t.equal(fs.readFileSync(path.join(work, 'holder.out'), 'utf8'), 'scene A\n');
  t.equal(fs.readFileSync(path.join(target, 'scene.txt'), 'utf8'), 'scene A\n', "the first job's tree was never overwritten");
  // Once no task uses it, the path may hold another source.
  const after = await qsub(path.join(work, 'b'), `cat ${target}/scene.txt > ${work}/after.out`);
  await farm.waitForJob(after, 30_000);
  t.equal(fs.readFileSync(path.join(work, 'after.out'), 'utf8'), 'scene B\n');
  const check = await runAsUser(mallory, ['cat', path.join(target, 'scene.txt')]);
  t.equal(check.stdout, 'scene B\n');
});


t.test('a changed source is published as a new tree; a running task keeps the old one until it ends', async (t) => {
  const farm = await TestFarm.start(t);
  await farm.startAgent('solo', { slots: 2 });
  const work = path.join(mallory.home, `shared-changed-${process.pid}`);
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  fs.mkdirSync(path.join(work, 'src'), { recursive: true });
  fs.writeFileSync(path.join(work, 'src', 'scene.txt'), 'version 1\n');
  execFileSync('chown', ['-R', `${mallory.uid}:${mallory.gid}`, work]);
  const target = path.join(work, 'mnt');
  const qsub = async (command: string): Promise<number> => {
    const res = await farm.runAs(mallory, 'qsub', ['-terse', '-q', 'default', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', '-data', `file://${work}/src/:${target}:ro`, '/bin/sh', '-c', command], { cwd: work });
    if (res.code !== 0) throw new Error(`qsub failed: ${res.stderr}`);
    return Number(res.stdout.trim());
  };
  // The first task works inside its tree (cwd there) across the change.
  const first = await qsub(`cd ${target} && cat scene.txt > ${work}/first.before; sleep 3; cat scene.txt > ${work}/first.after`);
  await farm.waitFor(() => fs.existsSync(path.join(work, 'first.before')), 20_000, 'the first task to start');
  await runAsUser(mallory, ['sh', '-c', `echo 'version 2, longer' > ${work}/src/scene.txt`]);
  const second = await qsub(`cat ${target}/scene.txt > ${work}/second.out`);
  await farm.waitForJob(second, 30_000);
  t.equal(fs.readFileSync(path.join(work, 'second.out'), 'utf8'), 'version 2, longer\n', 'the later task sees the new source');
  await farm.waitForJob(first, 30_000);
  t.equal(fs.readFileSync(path.join(work, 'first.after'), 'utf8'), 'version 1\n', 'the running task kept the tree it started with');
  await farm.waitFor(() => !fs.readdirSync(work).some((n) => /\.qfarm-(old|stage)\./.test(n)), 10_000, 'the replaced tree to be removed once no task uses it');
  t.pass('no replaced tree is left behind');
});
