import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { TestFarm } from '../helpers/farm.js';
import { FakeAgent, finishedFrame, helloFrame } from '../helpers/fake-agent.js';
import { machineIdentityOptions, readMachineIdentity } from '../../agent/machine-identity.js';

/**
 * An agent is believed only about its own attempts (issue 9, item 5): any holder of the agent
 * token can open a connection, so a connection may not report on another agent's attempt, take
 * a live agent's id, poison an output stream, or send an unbounded hello.
 */

function store(farm: TestFarm): Database.Database {
  return new Database(path.join(farm.home, 'store.sqlite'), { readonly: true, fileMustExist: true });
}

async function runningAttempt(farm: TestFarm, jobId: number): Promise<string> {
  const db = store(farm);
  try {
    let id: string | undefined;
    await farm.waitFor(() => {
      id = db.prepare(`SELECT id FROM attempts WHERE job_id = ? AND state = 'running'`).pluck().get(jobId) as string | undefined;
      return id !== undefined;
    }, 20_000, `job ${jobId} to run`);
    return id!;
  } finally {
    db.close();
  }
}

function taskResult(farm: TestFarm, jobId: number): { exit_status: number; failed_code: number } {
  const db = store(farm);
  try {
    return db.prepare('SELECT exit_status, failed_code FROM tasks WHERE job_id = ?').get(jobId) as { exit_status: number; failed_code: number };
  } finally {
    db.close();
  }
}

t.test('a connection forging frames about a real agent\'s running attempt is refused; the real result is committed', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, slots: 1 });
  const gate = path.join(farm.work, 'gate');
  const jobId = await farm.submit(['-q', 'default', '-cwd', '-b', 'y', 'sh', '-c', 'while [ ! -e "$1" ]; do sleep 0.05; done; exit 3', 'x', gate]);
  const attemptId = await runningAttempt(farm, jobId);

  for (const forged of [finishedFrame(attemptId, 0), { type: 'output', attemptId, stream: 'stdout', seq: 0, data: Buffer.from('forged\n').toString('base64') },
    { type: 'started', attemptId, pid: 1, startedAt: 0 }, { type: 'uploading', attemptId }, { type: 'finished', ...finishedFrame(attemptId, 0), retryable: true }]) {
    const impostor = await FakeAgent.join(farm.url, farm.token('agent'), helloFrame({ hostname: 'impostor' }));
    impostor.send(forged);
    const closed = await impostor.closed;
    t.equal(closed.code, 4403, `a forged ${String(forged['type'])} closes the connection with 4403`);
    t.equal(closed.reason, `attempt ${attemptId} is not leased to agent impostor`, 'the reason names the attempt and the agent');
    t.notOk(impostor.received.some((f) => f['type'] === 'ack'), 'nothing is acknowledged');
  }
  t.equal(taskResult(farm, jobId).exit_status, null, 'nothing was committed: the task is still running');

  fs.writeFileSync(gate, '');
  await farm.waitForJob(jobId);
  t.equal(taskResult(farm, jobId).exit_status, 3, 'the real agent\'s result (exit 3) is the one committed, not the forged exit 0');
  const logText = await (await fetch(`${farm.url}/api/v1/logs/${jobId}/1`, { headers: { authorization: `Bearer ${farm.token('api')}` } })).text();
  t.notMatch(logText, /forged/, 'the forged output did not reach the task\'s log');
  t.match(farm.masterLogText(), new RegExp(`refused a frame about an attempt not leased to this agent.*|"attempt":"${attemptId}"`), 'the refusal is logged');
  const line = farm.masterLogText().split('\n').find((l) => l.includes('refused a frame about an attempt not leased'))!;
  t.match(JSON.parse(line), { agent: 'impostor', attempt: attemptId, remote: /127\.0\.0\.1/ }, 'with the agent, its host and the attempt');
  t.equal(await farm.hostState('node1'), 'online', 'the real agent is untouched');
});

t.test('a close reason quoting a multibyte host name is cut to 123 bytes, not characters', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, slots: 1 });
  const jobId = await farm.submit(['-q', 'default', '-cwd', '-b', 'y', 'sleep', '30']);
  const attemptId = await runningAttempt(farm, jobId);
  const impostor = await FakeAgent.join(farm.url, farm.token('agent'), helloFrame({ hostname: 'ü'.repeat(200) }));
  impostor.send(finishedFrame(attemptId, 0));
  const closed = await impostor.closed;
  t.equal(closed.code, 4403);
  t.ok(Buffer.byteLength(closed.reason) <= 123, `reason is ${Buffer.byteLength(closed.reason)} bytes`);
  t.ok(closed.reason.startsWith(`attempt ${attemptId} is not leased to agent üü`), 'cut at a character boundary, naming the attempt');
  t.notOk(closed.reason.includes('\uFFFD'), 'no broken character');
  await farm.run('qdel', [String(jobId)]);
  await farm.waitForJob(jobId);
});

t.test('a hello reusing a live agent\'s id is refused; the real agent keeps running its task', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, slots: 1 });
  const agentId = fs.readFileSync(path.join(farm.home, 'agents', 'node1', 'agent-id'), 'utf8').trim();
  const gate = path.join(farm.work, 'gate');
  const jobId = await farm.submit(['-q', 'default', '-cwd', '-b', 'y', 'sh', '-c', 'while [ ! -e "$1" ]; do sleep 0.05; done; exit 0', 'x', gate]);
  await runningAttempt(farm, jobId);

  const impostor = await FakeAgent.open(farm.url, farm.token('agent'));
  impostor.send(helloFrame({ agentId, hostname: 'impostor', group: 'default' }));
  const closed = await impostor.closed;
  t.equal(closed.code, 4409, 'refused with 4409');
  t.equal(closed.reason, `agent id ${agentId} is in use by live host node1`, 'the reason names the id and the host holding it');
  t.notOk(impostor.received.some((f) => f['type'] === 'welcome'), 'never welcomed');

  fs.writeFileSync(gate, '');
  await farm.waitForJob(jobId);
  t.equal(taskResult(farm, jobId).exit_status, 0, 'the first agent finished its task');
  t.equal(await farm.hostState('node1'), 'online');
  t.equal(farm.agents.get('node1')!.exitCode, null, 'and is still running');
  const next = await farm.submit(['-q', 'default', '-cwd', '-b', 'y', 'true']);
  await farm.waitForJob(next);
});

t.test('an agent whose old connection is dead gets its id back', async (t) => {
  const farm = await TestFarm.start(t, { agents: 0, heartbeatMs: 300 });
  const hello = helloFrame({ agentId: 'agent-that-comes-back' });
  const first = await FakeAgent.join(farm.url, farm.token('agent'), hello);
  first.ws.terminate();
  await first.closed;
  const second = await FakeAgent.join(farm.url, farm.token('agent'), hello);
  t.pass('welcomed after its previous connection closed');

  // Silent (no heartbeats) but with TCP still open, as a frozen VM: after 3 heartbeats it is dead.
  second.ws.pause();
  await new Promise((r) => setTimeout(r, 1500));
  const third = await FakeAgent.join(farm.url, farm.token('agent'), hello);
  t.pass('welcomed once the silent connection missed 3 heartbeats');
  third.close();
});

t.test('output seq: a chunk far ahead is dropped without poisoning later output; own replays are acked without effect', async (t) => {
  const farm = await TestFarm.start(t, { agents: 0 });
  const agent = await FakeAgent.join(farm.url, farm.token('agent'), helloFrame({ group: 'fakeq' }));
  const jobId = await farm.submit(['-q', 'fakeq', '-cwd', '-b', 'y', 'true']);
  const assign = await agent.next('assign');
  const attemptId = assign['attemptId'] as string;
  const chunk = (seq: number, text: string) => ({ type: 'output', attemptId, stream: 'stdout', seq, data: Buffer.from(text).toString('base64') });
  agent.send({ type: 'started', attemptId, pid: 4242, startedAt: Date.now() });
  agent.send(chunk(0, 'one\n'));
  agent.send(chunk(Number.MAX_SAFE_INTEGER, 'poison\n'));
  agent.send(chunk(1, 'two\n'));
  agent.send(chunk(1, 'two again (a replay)\n'));
  agent.send(chunk(1_000_001 + 2, 'too far by one\n'));
  agent.send(chunk(1_000_000 + 2, 'a gap of exactly the bound is accepted\n'));
  agent.send(finishedFrame(attemptId, 0));
  await agent.next('ack');
  await farm.waitForJob(jobId);
  const log = await (await fetch(`${farm.url}/api/v1/logs/${jobId}/${assign['taskId'] ?? 1}`, { headers: { authorization: `Bearer ${farm.token('api')}` } })).text();
  t.equal(log, 'one\ntwo\na gap of exactly the bound is accepted\n', 'real chunks after the huge seq still land; the replay and far chunks do not');

  // The agent replays its own, already committed result (as after a reconnect): acked, no effect.
  agent.send({ ...finishedFrame(attemptId, 9) });
  await agent.next('ack');
  t.equal(taskResult(farm, jobId).exit_status, 0, 'the replay changed nothing');
  agent.send({ type: 'heartbeat', load1: 0, memUsedBytes: 0, swapUsedBytes: 0, running: [] });
  t.equal(agent.ws.readyState, agent.ws.OPEN, 'and the connection stays open');
  agent.close();
});

t.test('hello fields have maximums', async (t) => {
  const farm = await TestFarm.start(t, { agents: 0 });
  const labels = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
  const cases: [string, Record<string, unknown>][] = [
    ['slots above 4096', { slots: 5000 }],
    ['65 labels', { labels }],
    ['a label value of 300 characters', { labels: { k: 'v'.repeat(300) } }],
    ['a label name of 100 characters', { labels: { ['k'.repeat(100)]: 'v' } }],
    ['10,001 attempts', { attempts: Array.from({ length: 10_001 }, (_, i) => `a-${i}`) }],
    ['an attempt id of 100 characters', { attempts: ['a'.repeat(100)] }],
    ['an agentVersion of 1000 characters', { agentVersion: 'x'.repeat(1000) }],
    ['a hostname of 300 characters', { hostname: 'h'.repeat(300) }],
    ['cpus of 10^9', { cpus: 1e9 }],
  ];
  for (const [what, overrides] of cases) {
    const agent = await FakeAgent.open(farm.url, farm.token('agent'));
    agent.send(helloFrame(overrides));
    const closed = await agent.closed;
    t.equal(closed.code, 4400, `${what}: refused with 4400 (${closed.reason})`);
    t.ok(Buffer.byteLength(closed.reason) <= 123);
  }
  const fine = await FakeAgent.join(farm.url, farm.token('agent'), helloFrame({ slots: 4096, labels: { 'qfarm.instance-id': 'i-1', gpu: 'a100' }, attempts: ['x'] }));
  t.pass('a hello within the limits is welcomed');
  fine.close();

  const db = store(farm);
  const stored = JSON.parse(db.prepare('SELECT hello FROM hosts WHERE hostname = ?').pluck().get('fake-host') as string) as Record<string, unknown>;
  db.close();
  t.notOk('attempts' in stored, 'the stored host record keeps the inventory, not the hello\'s attempt list');
  t.same(stored['labels'], { 'qfarm.instance-id': 'i-1', gpu: 'a100' });
});

t.test('a real agent refused because its id is held keeps retrying with backoff and gets in once the holder is gone', async (t) => {
  const farm = await TestFarm.start(t, { agents: 0 });
  const agentId = 'shared-state-dir-agent';
  fs.mkdirSync(path.join(farm.home, 'agents', 'node1'), { recursive: true });
  fs.writeFileSync(path.join(farm.home, 'agents', 'node1', 'agent-id'), `${agentId}\n`);
  // Bound to this machine, as the agent writes it (an unbound id would be replaced at start).
  const machine = await readMachineIdentity(machineIdentityOptions(process.env, false));
  fs.writeFileSync(path.join(farm.home, 'agents', 'node1', 'agent-machine'), `${machine.digest}\n`);
  const holder = await FakeAgent.join(farm.url, farm.token('agent'), helloFrame({ agentId, hostname: 'holder' }));
  const beat = setInterval(() => holder.send({ type: 'heartbeat', load1: 0, memUsedBytes: 0, swapUsedBytes: 0, running: [] }), 200);
  t.teardown(() => clearInterval(beat));
  // The holder leaves a second after the agent was first refused, however long the agent took to
  // start (a fixed delay let a slow start miss the holder altogether).
  const refusal = /another live connection holds this agent's id; retrying with backoff/;
  const logFile = path.join(farm.home, 'agent-node1.log');
  const agentLog = (): string => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');
  const holderGone = (async () => {
    await farm.waitFor(() => refusal.test(agentLog()), 30_000, 'the agent to be refused while the holder is connected');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    clearInterval(beat);
    holder.close();
  })();

  const agent = await farm.startAgent('node1');
  await holderGone;
  t.match(agentLog(), refusal, 'the agent was refused at first and said so');
  t.equal(agent.exitCode, null, 'it did not exit');
  const jobId = await farm.submit(['-q', 'default', '-cwd', '-b', 'y', 'true']);
  await farm.waitForJob(jobId);
  t.pass('and runs work once in');
});
