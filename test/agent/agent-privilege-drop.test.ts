import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import type { TaskAssignment } from '../../protocol/agent-messages.js';
import { assignment, FakeMaster, startAgent, type FakeAgentLink } from '../helpers/fake-master.js';
import { ATTACKER, ensureUser, requireRoot } from '../helpers/unix-users.js';

/**
 * Issue 9, items 3, 4 and 8 (task half), tried by an ordinary user against a root agent: nothing
 * of a task (environment, working directory, output paths) is touched by root, no secret of the
 * agent reaches the task, and output files follow the submitter's umask.
 */
requireRoot();
const mallory = ensureUser(ATTACKER);
const asMallory = { name: mallory.name, uid: mallory.uid, gid: mallory.gid, home: mallory.home };

// Secrets the agent holds: none may be readable by any process of the user.
const agentToken = `agent-token-${randomBytes(12).toString('hex')}`;
const cloudSecret = `cloud-secret-${randomBytes(12).toString('hex')}`;
const master = await FakeMaster.start(agentToken);
const agent = await startAgent(master, [], { env: { QFARM_AGENT_TOKEN: agentToken, ALIBABA_CLOUD_ACCESS_KEY_SECRET: cloudSecret } });

// The attacker's own working directory, and a directory of tools every user can read.
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-drop-work-'));
await fs.chown(work, mallory.uid, mallory.gid);
const tools = await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-drop-tools-'));
await fs.chmod(tools, 0o755);
// Root's secret directory, as `-wd /root/secret` would name.
const secretDir = await fs.mkdtemp(path.join('/root', 'qfarm-secret-'));
await fs.chmod(secretDir, 0o700);
await fs.writeFile(path.join(secretDir, 'secret.txt'), 'the-root-secret\n');

t.teardown(async () => {
  await agent.stop();
  await master.close();
  for (const dir of [work, tools, secretDir]) await fs.rm(dir, { recursive: true, force: true });
});
const link = await master.connection(0);
await link.waitFor((f) => f.type === 'hello');
link.welcome();

async function run(over: Partial<TaskAssignment>): Promise<{ fin: Awaited<ReturnType<FakeAgentLink['finished']>>; out: string; err: string }> {
  const a = assignment({ cwd: work, user: asMallory, ...over });
  link.send(a);
  const fin = await link.finished(a.attemptId, 30_000);
  link.send({ type: 'ack', attemptId: a.attemptId });
  return { fin, out: link.output(a.attemptId, 'stdout'), err: link.output(a.attemptId, 'stderr') };
}

/** The farm keeps working: a normal task of the attacker and one of root both succeed. */
async function farmStillWorks(t: Test): Promise<void> {
  const mine = await run({ command: { kind: 'binary', argv: ['/usr/bin/id', '-u'] }, stdoutPath: '/dev/null' });
  t.equal(mine.fin.exitStatus, 0, 'a follow-up task of the attacker succeeds');
  t.equal(mine.fin.failedCode, 0);
  const roots = await run({ user: { name: 'root', uid: 0, gid: 0, home: '/root' }, cwd: '/', stdoutPath: '/dev/null', command: { kind: 'binary', argv: ['/usr/bin/id', '-u'] } });
  t.equal(roots.fin.exitStatus, 0, "a follow-up task of root's succeeds");
  t.equal(roots.out, '0\n');
}

/** Lines of `file` (written by code the attacker injected), proving it ran and as whom. */
async function uidsThatRan(file: string): Promise<string[]> {
  return (await fs.readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
}

t.test("the job's LD_PRELOAD never runs as root", async (t) => {
  const log = path.join(tools, 'preload.log');
  await fs.writeFile(log, '');
  await fs.chmod(log, 0o666);
  const source = path.join(tools, 'evil.c');
  await fs.writeFile(
    source,
    `#include <stdio.h>\n#include <unistd.h>\n__attribute__((constructor)) static void evil(void) { FILE *f = fopen("${log}", "a"); if (f) { fprintf(f, "%d\\n", (int)getuid()); fclose(f); } }\n`,
  );
  const library = path.join(tools, 'evil.so');
  execFileSync('gcc', ['-shared', '-fPIC', '-o', library, source]);
  const { fin } = await run({ env: { PATH: '/usr/bin:/bin', LD_PRELOAD: library }, stdoutPath: path.join(work, 'preload.out'), command: { kind: 'binary', argv: ['/bin/true'] } });
  t.equal(fin.exitStatus, 0);
  const uids = await uidsThatRan(log);
  t.ok(uids.length > 0, 'the library was loaded by the task (the test can see an escape)');
  t.same([...new Set(uids)], [String(mallory.uid)], `only ever loaded as ${mallory.name} (uid ${mallory.uid}), got ${uids.join(',')}`);
  await farmStillWorks(t);
});

t.test("the job's BASH_ENV never runs as root", async (t) => {
  const log = path.join(tools, 'bashenv.log');
  await fs.writeFile(log, '');
  await fs.chmod(log, 0o666);
  const startup = path.join(tools, 'bashenv.sh');
  await fs.writeFile(startup, `id -u >> ${log}\n`);
  await fs.chmod(startup, 0o644);
  const { fin } = await run({
    env: { PATH: '/usr/bin:/bin', BASH_ENV: startup },
    shell: '/bin/bash',
    stdoutPath: path.join(work, 'bashenv.out'),
    command: { kind: 'script', script: 'true\n', scriptName: 'b.sh', args: [] },
  });
  t.equal(fin.exitStatus, 0);
  const uids = await uidsThatRan(log);
  t.ok(uids.length > 0, 'bash read BASH_ENV for the task');
  t.same([...new Set(uids)], [String(mallory.uid)], `only ever run as ${mallory.name}, got ${uids.join(',')}`);
  await farmStillWorks(t);
});

t.test('-wd into a root-only directory fails with a clear reason and leaks nothing', async (t) => {
  const before = await fs.readdir(secretDir);
  // No output writer: qfarm-exec itself, already the user, fails to enter the cwd.
  const own = await run({ cwd: secretDir, stdoutPath: '/dev/null', stderrPath: '/dev/null', command: { kind: 'binary', argv: ['/bin/cat', 'secret.txt'] } });
  t.equal(own.fin.failedCode, 1);
  t.equal(own.fin.failedReason, `working directory ${secretDir} cannot be entered by user ${mallory.name} on host testhost: Permission denied`);
  // SGE's default outputs, inside that cwd: the writer (as the user) reports the cwd first.
  const dflt = await run({ cwd: secretDir, command: { kind: 'binary', argv: ['/bin/cat', 'secret.txt'] } });
  t.equal(dflt.fin.failedCode, 1);
  t.equal(dflt.fin.failedReason, `working directory ${secretDir} cannot be entered by user ${mallory.name} on host testhost: Permission denied`);
  for (const r of [own, dflt]) t.notMatch(r.out + r.err, /the-root-secret/);
  t.same(await fs.readdir(secretDir), before, 'nothing was created in the directory');
  await farmStillWorks(t);
});

t.test('-o into /etc or /root fails with the kernel\'s reason and creates nothing', async (t) => {
  for (const target of [`/etc/qfarm-drop-${process.pid}`, `/root/qfarm-drop-${process.pid}`, `${secretDir}/`]) {
    const { fin } = await run({ stdoutPath: target, command: { kind: 'binary', argv: ['/bin/echo', 'pwned'] } });
    t.equal(fin.failedCode, 26, target);
    t.match(fin.failedReason, new RegExp(`^cannot open output file ${target.replace(/\/$/, '')}.* for user ${mallory.name}: Permission denied$`));
    if (!target.endsWith('/')) await t.rejects(fs.lstat(target), `${target} was not created`);
  }
  t.same(await fs.readdir(secretDir), ['secret.txt']);
  await farmStillWorks(t);
});

t.test("output files and the task's files follow the submitter's umask", async (t) => {
  for (const [umask, mode] of [
    [0o077, 0o600],
    [0o002, 0o664],
  ] as const) {
    const out = path.join(work, `umask-${umask.toString(8)}.out`);
    const made = path.join(work, `umask-${umask.toString(8)}.made`);
    const { fin } = await run({ umask, stdoutPath: out, command: { kind: 'binary', argv: ['/bin/sh', '-c', `umask; touch ${made}`] } });
    t.equal(fin.exitStatus, 0);
    t.equal((await fs.stat(out)).mode & 0o777, mode, `output file with umask ${umask.toString(8)}`);
    t.equal((await fs.stat(made)).mode & 0o777, mode, `a file the task makes with umask ${umask.toString(8)}`);
    t.equal((await fs.readFile(out, 'utf8')).trim(), `0${umask.toString(8).padStart(3, '0')}`);
  }
  const old = await run({ stdoutPath: path.join(work, 'no-umask.out'), command: { kind: 'binary', argv: ['/bin/true'] } });
  t.equal(old.fin.exitStatus, 0);
  t.equal((await fs.stat(path.join(work, 'no-umask.out'))).mode & 0o777, 0o644, 'no umask sent (old client): 022');
});

t.test("no secret of the agent is readable by the user's processes", async (t) => {
  const script = [
    'for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do',
    '  tr "\\0" "\\n" < "$f" 2>/dev/null',
    'done',
    'echo scanned-all',
  ].join('\n');
  // Output to a file: the user's writer process is running while the task scans.
  const out = path.join(work, 'scan.out');
  const { fin, out: streamed } = await run({ stdoutPath: out, stderrPath: '/dev/null', command: { kind: 'script', script, scriptName: 'scan.sh', args: [] } });
  t.equal(fin.exitStatus, 0);
  t.match(streamed, /scanned-all/);
  t.match(streamed, /QFARM_TASK_TAG=/, 'the scan did read environments (its own at least)');
  t.match(streamed, /^cat$/m, "the scan did see the output writer's command line");
  for (const text of [streamed, await fs.readFile(out, 'utf8')]) {
    t.notOk(text.includes(agentToken), 'the agent token is not found');
    t.notOk(text.includes(cloudSecret), 'the cloud secret is not found');
  }
  await farmStillWorks(t);
});

t.test('pty mode as the attacker: environment, cwd and umask applied after the switch', async (t) => {
  const { fin, out } = await run({
    pty: true,
    umask: 0o027,
    env: { PATH: '/usr/bin:/bin', GREETING: 'hello-from-env' },
    stdoutPath: path.join(work, 'pty.out'),
    command: { kind: 'binary', argv: ['/bin/sh', '-c', 'test -t 1 && echo tty; echo "$GREETING $(id -u) $(pwd)"; umask'] },
  });
  t.equal(fin.exitStatus, 0);
  t.match(out, /tty/);
  t.match(out, new RegExp(`hello-from-env ${mallory.uid} ${work}`));
  t.match(out, /0027/);
  await farmStillWorks(t);
});

t.test('symlinks the task plants in its TMPDIR are not followed when it is removed', async (t) => {
  const { fin, out } = await run({
    stdoutPath: '/dev/null',
    command: { kind: 'binary', argv: ['/bin/sh', '-c', `ln -s ${secretDir} "$TMPDIR/link" && mkdir "$TMPDIR/sub" && ln -s /etc "$TMPDIR/sub/etc" && echo "$TMPDIR"`] },
  });
  t.equal(fin.exitStatus, 0);
  const tmpdir = out.trim();
  t.match(tmpdir, /qfarm\./);
  await t.rejects(fs.lstat(tmpdir), 'the TMPDIR is gone when finished is sent');
  t.equal(await fs.readFile(path.join(secretDir, 'secret.txt'), 'utf8'), 'the-root-secret\n', "root's directory is untouched");
  await fs.access('/etc/passwd');
  await farmStillWorks(t);
});

t.test("a task's own exit status 121 is its exit status, not a setup failure", async (t) => {
  const { fin } = await run({ stdoutPath: '/dev/null', command: { kind: 'binary', argv: ['/bin/sh', '-c', 'exit 121'] } });
  t.equal(fin.exitStatus, 121);
  t.equal(fin.failedCode, 0);
  t.equal(fin.failedReason, '');
});

t.test('-o naming a missing directory (trailing slash) says so, as the user', async (t) => {
  const { fin } = await run({ stdoutPath: `${work}/no-such-dir/`, command: { kind: 'binary', argv: ['/bin/true'] } });
  t.equal(fin.failedCode, 26);
  t.equal(fin.failedReason, `cannot open output file ${work}/no-such-dir/ for user ${mallory.name}: the directory does not exist: create it before submitting (mkdir -p ${work}/no-such-dir)`);
  const dir = path.join(work, 'logs');
  await fs.mkdir(dir);
  await fs.chown(dir, mallory.uid, mallory.gid);
  const ok = await run({ jobName: 'indir', jobId: 77, stdoutPath: `${dir}/`, command: { kind: 'binary', argv: ['/bin/echo', 'in-dir'] } });
  t.equal(ok.fin.exitStatus, 0);
  t.equal(await fs.readFile(path.join(dir, 'indir.o77'), 'utf8'), 'in-dir\n', 'an existing directory gets the default name');
});

t.test('a NUL byte in the environment fails the task with a reason', async (t) => {
  const { fin } = await run({ stdoutPath: '/dev/null', env: { PATH: '/usr/bin:/bin', BAD: 'a\0b' }, command: { kind: 'binary', argv: ['/bin/true'] } });
  t.equal(fin.failedCode, 1);
  t.match(fin.failedReason, /^the job's environment or command line contains a NUL byte/);
  await farmStillWorks(t);
});
