import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { assignment, FakeMaster, startAgent } from '../helpers/fake-master.js';
import { requireRoot } from '../helpers/unix-users.js';

const master = await FakeMaster.start();
const agent = await startAgent(master);
const workdir = await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-agent-user-'));
// A directory nobody may write into, as a user's own -cwd would be.
await fs.chmod(workdir, 0o777);
t.teardown(async () => {
  await agent.stop();
  await master.close();
  await fs.rm(workdir, { recursive: true, force: true });
});
const link = await master.connection(0);
await link.waitFor((f) => f.type === 'hello');
link.welcome();

const nobody = { name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent' };

t.test('pty mode: output comes through a terminal', async (t) => {
  const a = assignment({
    cwd: workdir,
    jobName: 'ptyjob',
    jobId: 5,
    pty: true,
    command: { kind: 'binary', argv: ['/bin/sh', '-c', 'test -t 1 && echo is-a-tty; printf "10%%\\r20%%\\n"; echo to-err >&2'] },
  });
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.equal(fin.exitStatus, 0);
  const out = link.output(a.attemptId, 'stdout');
  t.match(out, /is-a-tty/);
  t.match(out, /10%\r20%/, 'carriage returns of progress lines are kept');
  t.match(out, /to-err/, 'stderr shows on the terminal too');
  t.equal(link.output(a.attemptId, 'stderr'), '');
  t.match(await fs.readFile(path.join(workdir, 'ptyjob.o5'), 'utf8'), /is-a-tty/);
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('pty mode: exit status and kill', async (t) => {
  const a = assignment({ cwd: workdir, pty: true, command: { kind: 'binary', argv: ['/bin/sh', '-c', 'exit 3'] } });
  link.send(a);
  t.equal((await link.finished(a.attemptId)).exitStatus, 3);
  const b = assignment({ cwd: workdir, pty: true, command: { kind: 'binary', argv: ['/bin/sh', '-c', "trap '' TERM HUP; echo ready; while :; do sleep 0.1; done"] } });
  link.send(b);
  await link.waitFor(() => link.output(b.attemptId).includes('ready'));
  link.send({ type: 'kill', attemptId: b.attemptId, reason: 'deleted by carol' });
  const fin = await link.finished(b.attemptId);
  t.equal(fin.exitStatus, 137);
  t.equal(fin.failedReason, 'deleted by carol');
});

t.test('runs as the submitting user when the agent is root', async (t) => {
  requireRoot();
  const a = assignment({
    cwd: workdir,
    jobName: 'who',
    jobId: 11,
    user: nobody,
    command: { kind: 'script', script: 'id -u; id -g; echo "$HOME $USER $LOGNAME"; touch "$TMPDIR/x" && echo tmp-writable\n', scriptName: 'who.sh', args: [] },
  });
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.equal(fin.exitStatus, 0, link.output(a.attemptId, 'stderr'));
  t.equal(link.output(a.attemptId, 'stdout'), '65534\n65534\n/nonexistent nobody nobody\ntmp-writable\n');
  const stat = await fs.stat(path.join(workdir, 'who.o11'));
  t.equal(stat.uid, 65534, 'output file belongs to the user');
  t.equal(stat.gid, 65534);
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('output files are opened with the user\'s rights, not the root agent\'s', async (t) => {
  requireRoot();
  const victim = path.join(workdir, 'root-owned');
  await fs.writeFile(victim, 'precious\n');
  const a = assignment({ cwd: workdir, user: nobody, stdoutPath: victim, command: { kind: 'binary', argv: ['/bin/echo', 'overwrite'] } });
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.equal(fin.failedCode, 26);
  t.match(fin.failedReason, /cannot open output file .*root-owned for user nobody: Permission denied/);
  t.equal(await fs.readFile(victim, 'utf8'), 'precious\n');
  const link2 = path.join(workdir, 'link-to-passwd');
  await fs.symlink('/etc/passwd', link2);
  const b = assignment({ cwd: workdir, user: nobody, stdoutPath: link2, command: { kind: 'binary', argv: ['/bin/echo', 'x'] } });
  link.send(b);
  const finB = await link.finished(b.attemptId);
  t.equal(finB.failedCode, 26, 'a symlink does not lend root\'s rights');
  t.notMatch(await fs.readFile('/etc/passwd', 'utf8'), /^x$/m);
  const c = assignment({ cwd: workdir, user: nobody, stdoutPath: '/etc/qfarm-should-not-exist', command: { kind: 'binary', argv: ['/bin/echo', 'x'] } });
  link.send(c);
  const finC = await link.finished(c.attemptId);
  t.equal(finC.failedCode, 26);
  t.match(finC.failedReason, /Permission denied/);
  await t.rejects(fs.stat('/etc/qfarm-should-not-exist'));
  // A file the user owns is appended to, with everything in it before `finished` arrives.
  const mine = path.join(workdir, 'mine.out');
  await fs.writeFile(mine, 'first\n');
  await fs.chown(mine, 65534, 65534);
  const d = assignment({ cwd: workdir, user: nobody, stdoutPath: mine, command: { kind: 'binary', argv: ['/bin/sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" y; echo'] } });
  link.send(d);
  t.equal((await link.finished(d.attemptId)).exitStatus, 0);
  const text = await fs.readFile(mine, 'utf8');
  t.equal(text.length, 'first\n'.length + 300001, 'appended, complete when finished arrives');
  for (const x of [a, b, c, d]) link.send({ type: 'ack', attemptId: x.attemptId });
});

t.test('pty mode as another user', async (t) => {
  requireRoot();
  const a = assignment({ cwd: workdir, pty: true, user: nobody, command: { kind: 'binary', argv: ['id', '-u'] } });
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.equal(fin.exitStatus, 0);
  t.match(link.output(a.attemptId), /^65534\r?\n$/);
});

t.test('an agent that is not root refuses tasks of other users', async (t) => {
  requireRoot();
  const m2 = await FakeMaster.start();
  const unprivileged = await startAgent(m2, [], { uid: 65534, gid: 65534 });
  t.teardown(async () => {
    await unprivileged.stop();
    await m2.close();
  });
  const l2 = await m2.connection(0);
  await l2.waitFor((f) => f.type === 'hello');
  l2.welcome();
  const a = assignment({ cwd: workdir, user: { name: 'alice', uid: 1234, gid: 1234, home: '/home/alice' }, command: { kind: 'binary', argv: ['/bin/true'] } });
  l2.send(a);
  const fin = await l2.finished(a.attemptId);
  t.equal(fin.failedCode, 1);
  t.equal(fin.failedReason, 'agent runs as uid 65534 and cannot run tasks as user alice (uid 1234); run the agent as root or submit as 65534');
  const b = assignment({ cwd: workdir, user: nobody, command: { kind: 'binary', argv: ['id', '-u'] } });
  l2.send(b);
  const finB = await l2.finished(b.attemptId);
  t.equal(finB.exitStatus, 0);
  t.equal(l2.output(b.attemptId), '65534\n', 'its own user runs normally');
  l2.send({ type: 'ack', attemptId: a.attemptId });
  l2.send({ type: 'ack', attemptId: b.attemptId });
});

/** A user of this host who is a member of some supplementary group, from the real user database. */
function userWithSupplementaryGroup(): { name: string; uid: number; gid: number; home: string; group: number } | undefined {
  try {
    for (const line of execFileSync('getent', ['group'], { encoding: 'utf8' }).split('\n')) {
      const [, , gidText, members] = line.split(':');
      const member = members?.split(',')[0];
      if (!member || !gidText) continue;
      const pw = execFileSync('getent', ['passwd', member], { encoding: 'utf8' }).trim().split(':');
      if (Number(pw[2]) === 0) continue;
      return { name: member, uid: Number(pw[2]), gid: Number(pw[3]), home: pw[5] ?? '/', group: Number(gidText) };
    }
  } catch {
    // no getent or no such user
  }
  return undefined;
}

const member = userWithSupplementaryGroup();
t.test('a task gets its user\'s supplementary groups (as SGE\'s initgroups)', { skip: member ? false : 'no user with supplementary groups on this host' }, async (t) => {
  requireRoot();
  const u = member!;
  const a = assignment({ cwd: workdir, user: { name: u.name, uid: u.uid, gid: u.gid, home: u.home }, command: { kind: 'binary', argv: ['id', '-G'] } });
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.equal(fin.exitStatus, 0, link.output(a.attemptId, 'stderr'));
  const groups = link.output(a.attemptId, 'stdout').trim().split(' ').map(Number);
  t.equal(groups[0], u.gid, 'primary group first');
  t.ok(groups.includes(u.group), `supplementary group ${u.group} present in ${groups.join(' ')}`);
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('a uid unknown to this host still runs, with no supplementary groups', async (t) => {
  requireRoot();
  const a = assignment({ cwd: workdir, user: { name: 'ghost', uid: 54321, gid: 54321, home: '/tmp' }, command: { kind: 'binary', argv: ['id'] } });
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.equal(fin.exitStatus, 0, link.output(a.attemptId, 'stderr'));
  t.equal(link.output(a.attemptId, 'stdout').trim(), 'uid=54321 gid=54321 groups=54321');
  link.send({ type: 'ack', attemptId: a.attemptId });
});
