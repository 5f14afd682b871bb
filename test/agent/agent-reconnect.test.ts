import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { agentOnFakeMaster, assignment, FakeMaster, startAgent } from '../helpers/fake-master.js';

/** Where the agent keeps an unacknowledged result (agent/result-store.ts). */
function resultFile(stateDir: string, attemptId: string): string {
  return path.join(stateDir, 'results', `${encodeURIComponent(attemptId)}.json`);
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(() => true, () => false);
}

/** Waits for what the agent did, not for a fixed time. */
async function until(done: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const workdir = await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-agent-conn-'));
t.teardown(() => fs.rm(workdir, { recursive: true, force: true }));

t.test('reconnect: an unacknowledged result is replayed and acknowledged exactly once', async (t) => {
  const master = await FakeMaster.start();
  const agent = await startAgent(master);
  t.teardown(async () => {
    await agent.stop();
    await master.close();
  });
  const first = await master.connection(0);
  const hello1 = await first.waitFor((f) => f.type === 'hello');
  first.welcome();
  const a = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/sh', '-c', 'echo one; sleep 0.3; echo two; exit 4'] } });
  first.send(a);
  const fin1 = await first.finished(a.attemptId);
  t.equal(fin1.exitStatus, 4);
  // The master "crashes" before committing: no ack, connection gone.
  first.ws.terminate();

  const second = await master.connection(1);
  const hello2 = await second.waitFor((f) => f.type === 'hello');
  if (hello2.type !== 'hello' || hello1.type !== 'hello') throw new Error();
  t.equal(hello2.agentId, hello1.agentId, 'same agent id after reconnect');
  t.same(hello2.attempts, [a.attemptId], 'hello lists the attempt with the unacked result');
  t.equal(second.frames.length, 1, 'nothing but hello before welcome');
  second.welcome();
  const fin2 = await second.finished(a.attemptId);
  t.same(fin2, fin1, 'the same result is replayed');
  t.equal(second.output(a.attemptId), 'one\ntwo\n', 'output replayed in order');
  const seqs = second.frames.filter((f) => f.type === 'output').map((f) => (f.type === 'output' ? f.seq : -1));
  t.same(seqs, [...seqs].sort((x, y) => x - y), 'seq ascending');
  const started = second.frames.findIndex((f) => f.type === 'started');
  t.ok(started > 0 && started < second.frames.findIndex((f) => f.type === 'finished'), 'started replayed before finished');
  second.send({ type: 'ack', attemptId: a.attemptId });
  // The ack's effect: the agent deletes the result it kept on disk.
  await until(async () => !(await exists(resultFile(agent.stateDir, a.attemptId))), 'the agent to forget the acknowledged result');
  second.ws.terminate();

  const third = await master.connection(2);
  const hello3 = await third.waitFor((f) => f.type === 'hello');
  if (hello3.type !== 'hello') throw new Error();
  t.same(hello3.attempts, [], 'acked result forgotten');
  third.welcome();
  await third.waitFor((f) => f.type === 'heartbeat');
  t.notOk(third.frames.some((f) => f.type === 'finished'), 'not replayed again after the ack');
  t.equal(
    master.connections.flatMap((c) => c.frames).filter((f) => f.type === 'finished').length,
    2,
    'sent once, replayed once, never again',
  );
});

t.test('a task keeps running across a reconnect; output produced meanwhile arrives', async (t) => {
  const master = await FakeMaster.start();
  const agent = await startAgent(master);
  t.teardown(async () => {
    await agent.stop();
    await master.close();
  });
  const first = await master.connection(0);
  await first.waitFor((f) => f.type === 'hello');
  first.welcome();
  const flag = path.join(workdir, 'go');
  const a = assignment({
    cwd: workdir,
    command: { kind: 'binary', argv: ['/bin/sh', '-c', `echo before; while [ ! -e ${flag} ]; do sleep 0.05; done; echo after`] },
  });
  first.send(a);
  await first.waitFor(() => first.output(a.attemptId).includes('before'));
  first.ws.terminate();
  await fs.writeFile(flag, '');
  const second = await master.connection(1);
  const hello = await second.waitFor((f) => f.type === 'hello');
  if (hello.type !== 'hello') throw new Error();
  t.same(hello.attempts, [a.attemptId]);
  second.welcome();
  const fin = await second.finished(a.attemptId);
  t.equal(fin.exitStatus, 0);
  t.equal(second.output(a.attemptId), 'before\nafter\n');
  second.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('welcome.cancel kills the attempt and drops its result', async (t) => {
  const master = await FakeMaster.start();
  const agent = await startAgent(master);
  t.teardown(async () => {
    await agent.stop();
    await master.close();
  });
  const first = await master.connection(0);
  await first.waitFor((f) => f.type === 'hello');
  first.welcome();
  const a = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/sleep', '1000'] } });
  first.send(a);
  const started = await first.waitFor((f) => f.type === 'started');
  if (started.type !== 'started') throw new Error();
  first.ws.terminate();
  const second = await master.connection(1);
  await second.waitFor((f) => f.type === 'hello');
  second.welcome([a.attemptId]);
  // The next hello (after another drop) must not list it: it was killed and forgotten.
  await until(async () => !(await exists(`/proc/${started.pid}`)), `the cancelled task (pid ${started.pid}) to be killed`);
  await until(async () => !(await exists(resultFile(agent.stateDir, a.attemptId))), 'no result to be kept for it');
  second.ws.terminate();
  const third = await master.connection(2);
  const hello = await third.waitFor((f) => f.type === 'hello');
  if (hello.type !== 'hello') throw new Error();
  t.same(hello.attempts, []);
  t.notOk(
    master.connections.slice(1).some((c) => c.frames.some((f) => f.type === 'finished')),
    'no result sent for a cancelled attempt',
  );
  await t.rejects(fs.readFile(`/proc/${started.pid}/cmdline`, 'utf8'), 'task process gone');
});

t.test('invalid frames from the master are ignored', async (t) => {
  const master = await FakeMaster.start();
  const agent = await startAgent(master);
  t.teardown(async () => {
    await agent.stop();
    await master.close();
  });
  const link = await master.connection(0);
  await link.waitFor((f) => f.type === 'hello');
  link.welcome();
  link.send('this is not json');
  link.send({ type: 'assign', attemptId: 'half-an-assignment' });
  link.send({ type: 'launch-missiles' });
  link.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  const a = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/echo', 'still-alive'] } });
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.equal(fin.exitStatus, 0);
  t.equal(link.output(a.attemptId), 'still-alive\n');
  t.notOk(link.frames.some((f) => 'attemptId' in f && f.attemptId === 'half-an-assignment'));
  t.equal(master.connections.length, 1, 'no reconnect needed');
  t.match(agent.stderr(), /ignoring an invalid frame from the master/);
  t.match(agent.stderr(), /invalid assign frame: \/jobId/, 'the log names what was wrong');
  t.match(agent.stderr(), /unknown frame type \\"launch-missiles\\"/);
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('a master that reads slowly: output waits in the bounded outbox instead of piling up in the socket', async (t) => {
  const master = await FakeMaster.start();
  const agent = await startAgent(master, ['--output-buffer-bytes', String(1024 * 1024)]);
  t.teardown(async () => {
    await agent.stop();
    await master.close();
  });
  const link = await master.connection(0);
  await link.waitFor((f) => f.type === 'hello');
  link.welcome([], 5000);
  await link.waitFor((f) => f.type === 'heartbeat');
  // Stop reading from the agent's socket: its frames back up in the agent.
  const socket = (link.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  socket.pause();
  const outFile = path.join(workdir, 'flood.out');
  const total = 40 * 1024 * 1024;
  const a = assignment({ cwd: workdir, stdoutPath: outFile, command: { kind: 'binary', argv: ['/bin/sh', '-c', `head -c ${total} /dev/zero`] } });
  link.send(a);
  const deadline = Date.now() + 30_000;
  while ((await fs.stat(outFile).catch(() => ({ size: 0 }))).size < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.equal((await fs.stat(outFile)).size, total, 'the output file gets everything');
  socket.resume();
  const fin = await link.finished(a.attemptId, 30_000);
  t.equal(fin.exitStatus, 0);
  const seqs = link.frames.flatMap((f) => (f.type === 'output' ? [f.seq] : []));
  t.same(seqs, [...seqs].sort((x, y) => x - y), 'chunks in order');
  const received = link.frames.reduce((n, f) => n + (f.type === 'output' ? Buffer.from(f.data, 'base64').length : 0), 0);
  t.ok(received < total, `only part of the flood was streamed (${received} of ${total} bytes): the oldest was dropped, not queued`);
  t.ok(seqs.some((s, i) => i > 0 && s !== seqs[i - 1]! + 1), 'a gap in seq shows the dropped output');
  t.match(agent.stderr(), /dropping its oldest output/);
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('a pace frame changes how often the agent heartbeats, on the same connection', async (t) => {
  const { master, agent, link } = await agentOnFakeMaster(t);
  link.welcome([], 100);
  const beats = (): number => link.frames.filter((f) => f.type === 'heartbeat').length;
  await new Promise((r) => setTimeout(r, 1000));
  t.ok(beats() >= 5, `at 100 ms: ${beats()} heartbeats in a second`);
  link.send({ type: 'pace', heartbeatMs: 1500 });
  await new Promise((r) => setTimeout(r, 200)); // a beat already on its way may still come
  const before = beats();
  await new Promise((r) => setTimeout(r, 3500));
  const after = beats() - before;
  t.ok(after >= 2 && after <= 3, `at 1.5 s: ${after} heartbeats in 3.5 s (the first anywhere in the interval), not 35`);
  t.equal(master.connections.length, 1, 'no reconnect');
  t.match(agent.stderr(), /master set the heartbeat interval/);
});

t.test('an idle agent asks the master for a sign of life every other heartbeat, and redials a master that gives none', async (t) => {
  const { master, agent, link } = await agentOnFakeMaster(t);
  let pings = 0;
  link.ws.on('ping', () => pings++);
  link.welcome([], 200);
  await new Promise((r) => setTimeout(r, 3000));
  const beats = link.frames.filter((f) => f.type === 'heartbeat').length;
  t.ok(beats >= 12, `${beats} heartbeats in 3 s at 200 ms`);
  t.ok(pings >= beats / 2 - 2 && pings <= beats / 2 + 2, `${pings} pings: one every other heartbeat (each pong is a write for the master)`);

  // A master that stops reading (its pongs stop too) is a half-open connection to the agent.
  (link.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const next = await master.connection(1, 15_000);
  await next.waitFor((f) => f.type === 'hello');
  t.match(agent.stderr(), /master silent; reconnecting/, 'after max(3 heartbeats, 10 s) without a word it redials');
});
