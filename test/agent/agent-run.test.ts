import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { assignment, FakeMaster, startAgent } from '../helpers/fake-master.js';

// One agent for the whole file: each test assigns tasks and checks frames and files.
const master = await FakeMaster.start();
const agent = await startAgent(master, ['--group', 'render', '--labels', 'gpu=yes,zone=a']);
const workdir = await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-agent-run-'));
t.teardown(async () => {
  await agent.stop();
  await master.close();
  await fs.rm(workdir, { recursive: true, force: true });
});
const link = await master.connection(0);
const hello = await link.waitFor((f) => f.type === 'hello');
link.welcome();

t.test('hello describes the host', async (t) => {
  t.equal(link.frames[0]?.type, 'hello', 'hello is the first frame');
  if (hello.type !== 'hello') throw new Error('not hello');
  t.equal(hello.protocolVersion, PROTOCOL_VERSION);
  t.equal(hello.hostname, 'testhost');
  t.equal(hello.group, 'render');
  t.same(hello.labels, { gpu: 'yes', zone: 'a' });
  t.equal(hello.slots, 4);
  t.match(hello.arch, /^lx-(amd64|arm64)$/);
  t.ok(hello.cpus >= 1 && hello.threads >= hello.cores && hello.cores >= hello.sockets);
  t.ok(hello.memTotalBytes > 0);
  t.same(hello.attempts, []);
  t.match(hello.agentId, /^[0-9a-f-]{36}$/);
  t.equal((await fs.readFile(path.join(agent.stateDir, 'agent-id'), 'utf8')).trim(), hello.agentId, 'id persisted in the state dir');
  const hb = await link.waitFor((f) => f.type === 'heartbeat');
  if (hb.type !== 'heartbeat') throw new Error('not heartbeat');
  t.ok(hb.load1 >= 0 && hb.memUsedBytes > 0);
});

t.test('binary job: started, output chunks, finished, default output files', async (t) => {
  const a = assignment({
    cwd: workdir,
    jobName: 'hello',
    jobId: 42,
    taskId: 3,
    command: { kind: 'binary', argv: ['/bin/sh', '-c', 'echo out-line; echo err-line >&2; exit 7'] },
  });
  link.send(a);
  const started = await link.waitFor((f) => f.type === 'started' && f.attemptId === a.attemptId);
  if (started.type !== 'started') throw new Error();
  t.ok(started.pid > 1);
  const fin = await link.finished(a.attemptId);
  t.equal(fin.exitStatus, 7);
  t.equal(fin.failedCode, 0);
  t.equal(fin.signal, null);
  t.ok(fin.endedAt >= fin.startedAt);
  t.equal(link.output(a.attemptId, 'stdout'), 'out-line\n');
  t.equal(link.output(a.attemptId, 'stderr'), 'err-line\n');
  t.equal(await fs.readFile(path.join(workdir, 'hello.o42.3'), 'utf8'), 'out-line\n');
  t.equal(await fs.readFile(path.join(workdir, 'hello.e42.3'), 'utf8'), 'err-line\n');
  const idx = (type: string) => link.frames.findIndex((f) => 'attemptId' in f && f.attemptId === a.attemptId && f.type === type);
  t.ok(idx('started') < idx('output') && idx('output') < idx('finished'), 'started, output, finished in order');
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('task environment', async (t) => {
  const a = assignment({
    cwd: workdir,
    jobName: 'envjob',
    jobId: 7,
    taskId: 2,
    slots: 3,
    command: { kind: 'binary', argv: ['/usr/bin/env'] },
  });
  a.env.NSLOTS = '3';
  a.env.MY_VAR = 'has spaces; $(not expanded)';
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.equal(fin.exitStatus, 0);
  const env = Object.fromEntries(
    link
      .output(a.attemptId, 'stdout')
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  ) as Record<string, string>;
  t.equal(env.JOB_ID, '7');
  t.equal(env.JOB_NAME, 'envjob');
  t.equal(env.SGE_TASK_ID, '2');
  t.equal(env.NSLOTS, '3');
  t.equal(env.HOSTNAME, 'testhost');
  t.equal(env.MY_VAR, 'has spaces; $(not expanded)');
  t.match(env.TMPDIR, new RegExp(`^${os.tmpdir()}/qfarm\\.7\\.2\\.`));
  await t.rejects(fs.stat(env.TMPDIR!), 'TMPDIR removed after the task');
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('script job with args, -j y, -o to a directory', async (t) => {
  const outdir = path.join(workdir, 'logs');
  await fs.mkdir(outdir);
  const a = assignment({
    cwd: workdir,
    jobName: 'scripted',
    jobId: 9,
    command: { kind: 'script', script: '#!/bin/sh\necho "arg1=$1 arg2=$2"\necho to-stderr >&2\ntest -d "$TMPDIR" && echo tmp-ok\n', scriptName: 'run.sh', args: ['a b', '$HOME'] },
    stdoutPath: outdir,
    stderrPath: outdir,
    joinOutput: true,
  });
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.equal(fin.exitStatus, 0);
  const text = await fs.readFile(path.join(outdir, 'scripted.o9'), 'utf8');
  t.equal(text, 'arg1=a b arg2=$HOME\nto-stderr\ntmp-ok\n', 'stderr merged into the stdout file, in order');
  await t.rejects(fs.stat(path.join(outdir, 'scripted.e9')), 'no .e file with -j y');
  t.equal(link.output(a.attemptId, 'stderr'), '', 'joined stderr is streamed as stdout');
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('missing command exits 127 with "not found"; /dev/null output', async (t) => {
  const a = assignment({
    cwd: workdir,
    command: { kind: 'binary', argv: ['no-such-command-qfarm', 'x'] },
    stdoutPath: '/dev/null',
    stderrPath: path.join(workdir, 'missing.err'),
  });
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.equal(fin.exitStatus, 127);
  t.equal(fin.failedCode, 0);
  t.match(await fs.readFile(path.join(workdir, 'missing.err'), 'utf8'), /not found/);
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('missing working directory fails before the job', async (t) => {
  const a = assignment({ cwd: path.join(workdir, 'nope') });
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.equal(fin.failedCode, 1);
  t.match(fin.failedReason, /working directory .*nope does not exist on host testhost/);
  t.notOk(link.frames.some((f) => f.type === 'started' && f.attemptId === a.attemptId), 'never started');
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('duplicate assign is ignored; ack of unknown attempt is harmless', async (t) => {
  const a = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/sh', '-c', 'echo once'] } });
  link.send(a);
  link.send(a);
  link.send({ type: 'ack', attemptId: 'never-heard-of-it' });
  await link.finished(a.attemptId);
  // A heartbeat after the finish proves the agent is alive and did not start a second copy.
  const from = link.frames.length;
  await link.waitFor((f) => f.type === 'heartbeat', 5000, from);
  t.equal(link.frames.filter((f) => f.type === 'started' && f.attemptId === a.attemptId).length, 1);
  t.equal(link.output(a.attemptId), 'once\n');
  link.send({ type: 'ack', attemptId: a.attemptId });
});
