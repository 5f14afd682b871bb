import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { CloseCode } from '../../protocol/version.js';
import { assignment, FakeMaster, startAgent } from '../helpers/fake-master.js';

const workdir = await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-agent-conn-'));
t.teardown(() => fs.rm(workdir, { recursive: true, force: true }));

for (const how of ['close-4401', 'http-401'] as const)
t.test(`wrong token (${how}): agent exits with a clear message`, async (t) => {
  const master = await FakeMaster.start('right-token', { rejectBadTokenWith: how });
  const agent = await startAgent(master, [], { token: 'wrong-token-value' });
  t.teardown(async () => {
    await agent.stop();
    await master.close();
  });
  const { code } = await agent.exited;
  t.equal(code, 1);
  t.match(agent.stderr(), `agent token rejected by master ws://127.0.0.1:${new URL(master.url).port}/agent: check --token / QFARM_AGENT_TOKEN`);
  t.notMatch(agent.stderr(), /wrong-token-value/, 'the token never appears in logs');
});

t.test('protocol mismatch: agent exits with the master reason', async (t) => {
  const master = await FakeMaster.start();
  const agent = await startAgent(master);
  t.teardown(async () => {
    await agent.stop();
    await master.close();
  });
  const link = await master.connection(0);
  await link.waitFor((f) => f.type === 'hello');
  link.send({ type: 'refused', reason: 'protocol version 1 not supported, master speaks 2' });
  link.ws.close(CloseCode.ProtocolMismatch, 'protocol mismatch');
  const { code } = await agent.exited;
  t.equal(code, 1);
  t.match(agent.stderr(), /protocol version 1 not supported, master speaks 2/);
  t.equal(master.connections.length, 1, 'no retry');
});

t.test('master shutdown close code: the agent reconnects', async (t) => {
  const master = await FakeMaster.start();
  const agent = await startAgent(master);
  t.teardown(async () => {
    await agent.stop();
    await master.close();
  });
  const link = await master.connection(0);
  await link.waitFor((f) => f.type === 'hello');
  link.ws.close(CloseCode.Shutdown, 'master restarting');
  const again = await master.connection(1);
  t.ok(await again.waitFor((f) => f.type === 'hello'));
});

t.test('SIGTERM drains: running task finishes and is reported, then exit 0', async (t) => {
  const master = await FakeMaster.start();
  const agent = await startAgent(master);
  t.teardown(async () => {
    await agent.stop();
    await master.close();
  });
  const link = await master.connection(0);
  await link.waitFor((f) => f.type === 'hello');
  link.welcome();
  const a = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/sh', '-c', 'sleep 0.5; echo done'] } });
  link.send(a);
  await link.waitFor((f) => f.type === 'started');
  agent.child.kill('SIGTERM');
  const fin = await link.finished(a.attemptId);
  t.equal(fin.exitStatus, 0, 'the task was allowed to finish');
  t.equal(fin.failedCode, 0);
  link.send({ type: 'ack', attemptId: a.attemptId });
  const { code } = await agent.exited;
  t.equal(code, 0);
});

t.test('second SIGTERM kills running tasks, and their results ask the master to run them again', async (t) => {
  const master = await FakeMaster.start();
  const agent = await startAgent(master);
  t.teardown(async () => {
    await agent.stop();
    await master.close();
  });
  const link = await master.connection(0);
  await link.waitFor((f) => f.type === 'hello');
  link.welcome();
  const a = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/sleep', '1000'] } });
  link.send(a);
  await link.waitFor((f) => f.type === 'started');
  agent.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  agent.child.kill('SIGTERM');
  const fin = await link.finished(a.attemptId);
  t.equal(fin.failedCode, 100);
  t.match(fin.failedReason, /agent on testhost was shut down/);
  t.equal(fin.retryable, true, 'stopping the agent is not the task\'s failure: it is requeued');
  link.send({ type: 'ack', attemptId: a.attemptId });
  t.equal((await agent.exited).code, 0);
});

/** Alive and not a zombie (an orphan's zombie waits for init to reap it). */
async function alive(pid: number): Promise<boolean> {
  try {
    return !/^\d+ \(.*\) [ZX] /.test(await fs.readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

t.test('an agent killed with SIGKILL: its successor kills the tasks it left running', async (t) => {
  const master = await FakeMaster.start();
  const first = await startAgent(master);
  const link = await master.connection(0);
  await link.waitFor((f) => f.type === 'hello');
  link.welcome();
  const escapedFile = path.join(workdir, 'escaped-orphan.pid');
  const a = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/sh', '-c', `setsid sleep 1000 & echo $! > ${escapedFile}; sleep 1000; :`] } });
  link.send(a);
  const started = await link.waitFor((f) => f.type === 'started');
  if (started.type !== 'started') throw new Error();
  let escaped = 0;
  for (let i = 0; i < 100 && !escaped; i++) {
    escaped = Number((await fs.readFile(escapedFile, 'utf8').catch(() => '')).trim());
    if (!escaped) await new Promise((r) => setTimeout(r, 50));
  }
  first.child.kill('SIGKILL');
  await first.exited;
  t.ok(await alive(started.pid), 'the task outlives the killed agent');
  const second = await startAgent(master, [], { stateDir: first.stateDir });
  t.teardown(async () => {
    await second.stop();
    await master.close();
  });
  const link2 = await master.connection(1);
  const hello = await link2.waitFor((f) => f.type === 'hello');
  if (hello.type !== 'hello') throw new Error();
  t.same(hello.attempts, [], 'the new agent does not claim the old task');
  t.notOk(await alive(started.pid), 'the orphaned task was killed before hello');
  t.notOk(await alive(escaped), 'also its grandchild in another session');
  t.match(second.stderr(), /killing a task process left running by a previous agent process/);
});

t.test('an assignment during a drain is handed back by a fresh hello that does not list it', async (t) => {
  const master = await FakeMaster.start();
  const agent = await startAgent(master, ['--drain-timeout-ms', '20000']);
  t.teardown(async () => {
    await agent.stop();
    await master.close();
  });
  const link = await master.connection(0);
  await link.waitFor((f) => f.type === 'hello');
  link.welcome();
  const running = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/sh', '-c', 'sleep 1.5; echo finished-anyway'] } });
  link.send(running);
  await link.waitFor((f) => f.type === 'started');
  agent.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  const late = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/echo', 'must-not-run'] } });
  link.send(late);
  const again = await master.connection(1);
  const hello = await again.waitFor((f) => f.type === 'hello');
  if (hello.type !== 'hello') throw new Error();
  t.same(hello.attempts, [running.attemptId], 'the running task is listed, the late assignment is not');
  t.equal(hello.draining, true, 'and it says it drains, so the master assigns it nothing more');
  again.welcome();
  const fin = await again.finished(running.attemptId);
  t.equal(fin.exitStatus, 0);
  again.send({ type: 'ack', attemptId: running.attemptId });
  t.equal((await agent.exited).code, 0);
  t.notOk(master.connections.some((c) => c.frames.some((f) => 'attemptId' in f && f.attemptId === late.attemptId)), 'nothing ever sent for it');
});

t.test('an unacknowledged result and its output survive an agent crash and are delivered by its successor', async (t) => {
  const master = await FakeMaster.start();
  const first = await startAgent(master);
  const link = await master.connection(0);
  await link.waitFor((f) => f.type === 'hello');
  link.welcome();
  const a = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/sh', '-c', 'echo one; echo two >&2; exit 5'] } });
  link.send(a);
  const fin1 = await link.finished(a.attemptId);
  const seqs = (frames: typeof link.frames) => frames.flatMap((f) => (f.type === 'output' && f.attemptId === a.attemptId ? [f.seq] : []));
  first.child.kill('SIGKILL'); // before any ack
  await first.exited;
  const second = await startAgent(master, [], { stateDir: first.stateDir });
  t.teardown(async () => {
    await second.stop();
    await master.close();
  });
  const link2 = await master.connection(1);
  const hello = await link2.waitFor((f) => f.type === 'hello');
  if (hello.type !== 'hello') throw new Error();
  t.same(hello.attempts, [a.attemptId], 'the stored result is claimed in hello');
  link2.welcome();
  const fin2 = await link2.finished(a.attemptId);
  t.same(fin2, fin1, 'the same result, replayed');
  t.same(link2.frames.filter((f) => f.type !== 'heartbeat').map((f) => f.type).slice(0, 2), ['hello', 'started'], 'started replayed first');
  t.same(seqs(link2.frames), seqs(link.frames), 'every output chunk replayed with its original seq');
  t.equal(link2.output(a.attemptId, 'stdout'), 'one\n', 'stdout replayed');
  t.equal(link2.output(a.attemptId, 'stderr'), 'two\n', 'stderr replayed');
  link2.send({ type: 'ack', attemptId: a.attemptId });
  const resultsDir = path.join(first.stateDir, 'results');
  for (let i = 0; i < 50 && (await fs.readdir(resultsDir)).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  t.same(await fs.readdir(resultsDir), [], 'forgotten on disk after the ack');
});

t.test('drain from the master: running work finishes, new assignments are handed back', async (t) => {
  const master = await FakeMaster.start();
  const agent = await startAgent(master);
  t.teardown(async () => {
    await agent.stop();
    await master.close();
  });
  const link = await master.connection(0);
  await link.waitFor((f) => f.type === 'hello');
  link.welcome();
  const running = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/sh', '-c', 'sleep 0.5; echo done'] } });
  link.send(running);
  await link.waitFor((f) => f.type === 'started');
  link.send({ type: 'drain', reason: 'scale-in' });
  const late = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/echo', 'must-not-run'] } });
  link.send(late);
  const again = await master.connection(1);
  const hello = await again.waitFor((f) => f.type === 'hello');
  if (hello.type !== 'hello') throw new Error();
  t.notOk(hello.attempts.includes(late.attemptId), 'the late assignment is not claimed');
  t.equal(hello.draining, true, 'the fresh hello says it drains');
  again.welcome();
  const fin = await again.finished(running.attemptId);
  t.equal(fin.exitStatus, 0, 'the running task finished normally');
  again.send({ type: 'ack', attemptId: running.attemptId });
  t.match(agent.stderr(), /master asked this agent to drain/);
});
