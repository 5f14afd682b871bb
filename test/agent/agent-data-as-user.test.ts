import fs from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { FakeOssServer } from '../../fakes/oss/server.js';
import type { TaskAssignment } from '../../protocol/agent-messages.js';
import { parseDataMapping } from '../../storage/data-mappings.js';
import { assignment, FakeMaster, startAgent } from '../helpers/fake-master.js';
import { ATTACKER, ensureUser, requireRoot, runAsUser } from '../helpers/unix-users.js';

// Staging and uploads as the attacker sees them: a real root agent, a real unprivileged user,
// the local OSS fake. Every attack of issue 9 on -data/-outdir must fail with a reason and
// leave the agent working.
requireRoot();
const mallory = ensureUser(ATTACKER);
const KEY = { accessKeyId: 'LTAIqfarmdata01', accessKeySecret: 'data-secret-7d2e' };
const BUCKET = 'attacks';
const oss = await FakeOssServer.start({ keys: [KEY], buckets: [BUCKET] });
const ossEnv = { QFARM_OSS_ENDPOINT: oss.url, ALIBABA_CLOUD_ACCESS_KEY_ID: KEY.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: KEY.accessKeySecret, QFARM_OSS_MOUNT: '0' };
const master = await FakeMaster.start();
const agent = await startAgent(master, [], { env: { ...process.env, ...ossEnv } });
// Root's own files the attacker goes after; a fresh, private directory per run.
const rootDir = await fs.mkdtemp('/root/qfarm-data-attack-');
await fs.chmod(rootDir, 0o700);
const SECRET = `root-only-${process.pid}\n`;
await fs.writeFile(path.join(rootDir, 'secret.txt'), SECRET, { mode: 0o600 });
await fs.writeFile(path.join(rootDir, 'victim.txt'), 'precious\n', { mode: 0o644 });
// The attacker's own input directory.
const project = path.join(mallory.home, `project-${process.pid}`);
await runAsUser(mallory, ['sh', '-c', `mkdir -p ${project}/sub && echo mine > ${project}/a.txt && echo deep > ${project}/sub/b.txt`]);
for (let i = 0; i < 5; i++) await oss.seed(BUCKET, `scene/tex${i}.txt`, Buffer.from(`texture ${i}\n`));
const etcTarget = `/etc/qfarm-data-attack-${process.pid}`;
const scratch: string[] = [];

t.teardown(async () => {
  await agent.stop();
  await master.close();
  await oss.close();
  await fs.rm(rootDir, { recursive: true, force: true });
  await fs.rm(project, { recursive: true, force: true });
  for (const p of [etcTarget, `${etcTarget}-out`, ...scratch]) await fs.rm(p, { recursive: true, force: true });
});
const link = await master.connection(0);
await link.waitFor((f) => f.type === 'hello');
link.welcome();

const user = { name: mallory.name, uid: mallory.uid, gid: mallory.gid, home: mallory.home };
function task(script: string, data: TaskAssignment['data']): TaskAssignment {
  return assignment({ cwd: mallory.home, user, data, command: { kind: 'script', script: `${script}\n`, scriptName: 'attack.sh', args: [] } });
}
async function run(a: TaskAssignment) {
  link.send(a);
  const fin = await link.finished(a.attemptId, 60_000);
  link.send({ type: 'ack', attemptId: a.attemptId });
  return fin;
}
async function readObject(key: string): Promise<string | undefined> {
  const stored = oss.object(BUCKET, key);
  return stored ? await fs.readFile(stored.file, 'utf8') : undefined;
}

t.test('a file:// input the user cannot read is refused with the kernel\'s reason; nothing is copied', async (t) => {
  const target = path.join(mallory.home, 'stolen');
  const fin = await run(task('cat "$HOME/stolen/secret.txt"', { inputs: [parseDataMapping(`file://${rootDir}/:${target}:rw`)] }));
  t.equal(fin.failedCode, 1, 'failed before the job ran');
  t.match(fin.failedReason, new RegExp(`as user ${ATTACKER} failed: .*Permission denied`));
  t.notOk(fin.retryable, 'the user\'s own rights: final, not run again on another node');
  await t.rejects(fs.readFile(path.join(target, 'secret.txt')), { code: 'ENOENT' }, 'the secret did not reach the user');
  t.notMatch(link.output(fin.attemptId), /root-only/);
});

t.test('a file:// :ro input is the user\'s own read-only copy, not a link into anyone\'s files', async (t) => {
  const target = `/tmp/qfarm-ro-${process.pid}`;
  scratch.push(target);
  const fin = await run(task(`cat ${target}/a.txt; echo x >> ${target}/a.txt && echo WROTE`, { inputs: [parseDataMapping(`file://${project}/:${target}:ro`)] }));
  t.equal(fin.failedCode, 0, fin.failedReason);
  const st = await fs.stat(path.join(target, 'sub', 'b.txt'));
  t.equal(st.uid, mallory.uid, 'owned by the user');
  t.equal(st.mode & 0o777, 0o444, 'read-only');
  t.equal(st.nlink, 1, 'a copy, not a hard link');
  t.equal(await fs.readFile(path.join(target, 'a.txt'), 'utf8'), 'mine\n');
  t.notMatch(link.output(fin.attemptId, 'stdout'), /WROTE/, 'the task cannot write into its read-only input');
});

t.test('a target the user may not create (/etc/…) fails; root creates nothing there', async (t) => {
  const fin = await run(task('true', { inputs: [parseDataMapping(`file://${project}/:${etcTarget}:ro`)] }));
  t.equal(fin.failedCode, 1);
  t.match(fin.failedReason, new RegExp(`${etcTarget}.*Permission denied`));
  t.notOk(fin.retryable, 'final');
  await t.rejects(fs.stat(etcTarget), { code: 'ENOENT' });
  const viaOss = await run(task('true', { inputs: [parseDataMapping(`oss://${BUCKET}/scene/:${etcTarget}:ro`)] }));
  t.equal(viaOss.failedCode, 1, 'OSS inputs are written by the user too');
  t.match(viaOss.failedReason, new RegExp(`as user ${ATTACKER} failed: .*Permission denied`));
  t.notOk(viaOss.retryable, 'final');
  await t.rejects(fs.stat(etcTarget), { code: 'ENOENT' });
  // Root mounts NFS exports: never over a directory the user does not own.
  const overEtc = await run(task('true', { inputs: [parseDataMapping('nas://nas.example:/exports/x:/etc:ro')] }));
  t.equal(overEtc.failedCode, 1);
  t.match(overEtc.failedReason, new RegExp(`mount point /etc belongs to uid 0, not to user ${ATTACKER}`));
  t.notOk(overEtc.retryable, 'final');
  const newInEtc = await run(task('true', { inputs: [parseDataMapping(`nas://nas.example:/exports/x:${etcTarget}:ro`)] }));
  t.match(newInEtc.failedReason, new RegExp(`creating the mount point ${etcTarget} as user ${ATTACKER} failed: .*Permission denied`));
  t.notOk(newInEtc.retryable, 'final');
  await t.rejects(fs.stat(etcTarget), { code: 'ENOENT' });
});

t.test('OSS inputs come from a cache only root can read, as the user\'s own copies', async (t) => {
  // A fresh path per run: staging never replaces a directory it did not publish itself.
  const target = path.join(mallory.home, `scene-${process.pid}`);
  scratch.push(target);
  const fin = await run(task(`cat ${target}/*.txt | wc -l`, { inputs: [parseDataMapping(`oss://${BUCKET}/scene/:${target}:ro`)] }));
  t.equal(fin.failedCode, 0, fin.failedReason);
  t.equal(link.output(fin.attemptId, 'stdout').trim(), '5');
  const st = await fs.stat(path.join(target, 'tex3.txt'));
  t.equal(st.uid, mallory.uid);
  t.equal(st.mode & 0o777, 0o444);
  t.equal(st.nlink, 1, 'no hard link into the cache');
  const cache = await fs.stat(path.join(agent.stateDir, 'cache'));
  t.equal(cache.mode & 0o777, 0o700, 'the cache directory is private to the agent');
  t.equal(cache.uid, 0);
  const denied = await runAsUser(mallory, ['ls', path.join(agent.stateDir, 'cache', 'objects')]);
  t.not(denied.code, 0, 'the user cannot list the cache');
});

t.test('file:// outputs to /etc or over root\'s files fail with the path and the user named', async (t) => {
  const fin = await run(task('echo pwned > "$OUTDIR/x"', { inputs: [], outputUrl: `file://${etcTarget}-out/` }));
  t.equal(fin.failedCode, 100, 'the task ran; its upload failed: SGE\'s "assumedly after job"');
  t.match(fin.failedReason, new RegExp(`writing outputs to ${etcTarget}-out as user ${ATTACKER} failed: .*Permission denied`));
  t.notOk(fin.retryable, 'final');
  await t.rejects(fs.stat(`${etcTarget}-out`), { code: 'ENOENT' });
  const over = await run(task('echo pwned > "$OUTDIR/victim.txt"', { inputs: [], outputUrl: `file://${rootDir}/` }));
  t.equal(over.failedCode, 100, 'the task ran; its upload failed: SGE\'s "assumedly after job"');
  t.match(over.failedReason, /Permission denied/);
  t.equal(await fs.readFile(path.join(rootDir, 'victim.txt'), 'utf8'), 'precious\n', 'root\'s file is untouched');
  const mine = path.join(mallory.home, `out-${process.pid}`);
  const ok = await run(task('echo result > "$OUTDIR/r.txt"', { inputs: [], outputUrl: `file://${mine}/` }));
  t.equal(ok.failedCode, 0, ok.failedReason);
  t.equal((await fs.stat(path.join(mine, 'r.txt'))).uid, mallory.uid, 'outputs in the user\'s own place are written, owned by the user');
  t.equal(ok.outputs?.files[0]?.path, 'r.txt');
});

t.test('symlinks and hard links in $OUTDIR never carry root\'s files to the bucket', async (t) => {
  const sym = await run(task(`ln -s ${rootDir}/secret.txt "$OUTDIR/loot"`, { inputs: [], outputUrl: `oss://${BUCKET}/sym/` }));
  t.equal(sym.failedCode, 100, 'the task ran; its upload failed: SGE\'s "assumedly after job"');
  t.match(sym.failedReason, /loot: is a symbolic link/);
  t.notOk(sym.retryable, 'a symlink in $OUTDIR is the user\'s: final');
  t.equal(await readObject('sym/loot'), undefined);
  // $OUTDIR itself swapped for a link to root's directory (the task owns its TMPDIR).
  const swapped = await run(task(`mv "$OUTDIR" "$OUTDIR.mine" && ln -s ${rootDir} "$OUTDIR"`, { inputs: [], outputUrl: `oss://${BUCKET}/swap/` }));
  t.equal(swapped.failedCode, 100, 'the task ran; its upload failed: SGE\'s "assumedly after job"');
  t.match(swapped.failedReason, /outdir: a component of this path is a symbolic link/);
  t.equal(await readObject('swap/secret.txt'), undefined, 'root\'s directory was not walked');
  // A hard link to root's file (protected_hardlinks lets a user link a file they may read and write).
  const other = path.join('/tmp', `qfarm-other-${process.pid}`);
  scratch.push(other);
  await fs.writeFile(other, 'root\'s\n');
  await fs.chmod(other, 0o666);
  const hard = await run(task(`ln ${other} "$OUTDIR/hard"`, { inputs: [], outputUrl: `oss://${BUCKET}/hard/` }));
  t.equal(hard.failedCode, 100, 'the task ran; its upload failed: SGE\'s "assumedly after job"');
  t.match(hard.failedReason, new RegExp(`hard: belongs to uid 0, not to the task's user \\(uid ${mallory.uid}\\)`));
  t.notOk(hard.retryable, 'final');
  t.equal(await readObject('hard/hard'), undefined);
});

t.test('a file flipped between regular file and symlink during the upload never uploads root-only content', async (t) => {
  for (let round = 0; round < 4; round++) {
    const a = task('echo "$OUTDIR"; echo mine > "$OUTDIR/loot"; i=0; while [ $i -lt 30 ]; do echo f$i > "$OUTDIR/f$i"; i=$((i+1)); done; sleep 1', { inputs: [], outputUrl: `oss://${BUCKET}/flip${round}/` });
    link.send(a);
    await link.waitFor(() => link.output(a.attemptId, 'stdout').includes('\n'));
    const outdir = link.output(a.attemptId, 'stdout').split('\n')[0]!;
    // Another process of the same user (the task's own tree is killed when it exits).
    const flipper = runAsUser(mallory, ['sh', '-c', `end=$(($(date +%s)+4)); while [ $(date +%s) -lt $end ]; do ln -sf ${rootDir}/secret.txt "$1/l.tmp" && mv -fT "$1/l.tmp" "$1/loot"; echo mine > "$1/r.tmp" && mv -fT "$1/r.tmp" "$1/loot"; done 2>/dev/null; true`, 'flip', outdir]);
    const fin = await link.finished(a.attemptId, 60_000);
    link.send({ type: 'ack', attemptId: a.attemptId });
    await flipper;
    const uploaded = await readObject(`flip${round}/loot`);
    t.not(uploaded, SECRET, `round ${round}: root's file was not uploaded`);
    if (fin.failedCode === 0) t.equal(uploaded, 'mine\n', `round ${round}: the user's own content went up`);
    else t.match(fin.failedReason, /(loot|l\.tmp|r\.tmp):? (is a symbolic link|was replaced|vanished|was removed|was modified|changed size|shrank|grew)/, `round ${round}: failed naming the file`);
  }
});

t.test('a file removed mid-upload fails that attempt (retryable); the agent keeps working', async (t) => {
  oss.faults.add({ kind: 'slow', op: 'PutObject', key: /vanish\/big\.bin/, delayMs: 2000, times: 1 });
  const putStarted = new Promise<void>((resolve) => {
    const on = (r: { op: string; key: string }): void => {
      if (r.op === 'PutObject' && /vanish\/big\.bin/.test(r.key)) {
        oss.events.off('request', on);
        resolve();
      }
    };
    oss.events.on('request', on);
  });
  const a = task('echo "$OUTDIR"; head -c 3000000 /dev/urandom > "$OUTDIR/big.bin"', { inputs: [], outputUrl: `oss://${BUCKET}/vanish/` });
  link.send(a);
  await putStarted;
  await link.waitFor(() => link.output(a.attemptId, 'stdout').includes('\n'));
  const outdir = link.output(a.attemptId, 'stdout').split('\n')[0]!;
  const rm = await runAsUser(mallory, ['rm', '-f', path.join(outdir, 'big.bin')]);
  t.equal(rm.code, 0, rm.stderr);
  const fin = await link.finished(a.attemptId, 60_000);
  link.send({ type: 'ack', attemptId: a.attemptId });
  t.equal(fin.failedCode, 100, 'the task ran; its upload failed: SGE\'s "assumedly after job"');
  t.match(fin.failedReason, /big\.bin was removed during the upload/);
  t.equal(fin.retryable, true);
  t.equal(agent.child.exitCode, null, 'the agent is still running');
});

t.test('after every attack, the same user\'s ordinary job with inputs and outputs succeeds', async (t) => {
  // A fresh path per run: staging never replaces a directory it did not publish itself.
  const target = path.join(mallory.home, `scene2-${process.pid}`);
  scratch.push(target);
  const fin = await run(task(`cat ${target}/tex1.txt > "$OUTDIR/seen.txt"; id -un >> "$OUTDIR/seen.txt"`, { inputs: [parseDataMapping(`oss://${BUCKET}/scene/:${target}:ro`)], outputUrl: `oss://${BUCKET}/final/` }));
  t.equal(fin.failedCode, 0, fin.failedReason);
  t.equal(await readObject('final/seen.txt'), `texture 1\n${ATTACKER}\n`);
  t.equal(fin.outputs?.files.length, 1);
  t.equal(agent.child.exitCode, null);
  t.same(link.invalid, [], 'every frame the agent sent was valid');
});
