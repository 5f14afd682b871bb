import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';
import { logs, qacctRecords, query } from '../helpers/farm-records.js';
import { FakeAgent, finishedFrame, helloFrame } from '../helpers/fake-agent.js';
import { processRunning } from '../helpers/processes.js';

/**
 * Exactly-once results against the real master (issue 15): a replayed `finished` and replayed
 * `output` chunks from the agent that owns the attempt are acknowledged without effect, and a
 * real agent that finished a task while the master was down delivers it once after the restart.
 * Each is checked where a user looks: the store, `qacct -j` and `qfarm logs`.
 */

t.test('the owning agent replays its finished and output frames: acked, and nothing changes', async (t) => {
  const farm = await TestFarm.start(t, { agents: 0 });
  const agent = await FakeAgent.join(farm.url, farm.token('agent'), helloFrame({ group: 'fakeq' }));
  // Alive as a real agent is (3 missed heartbeats drop a connection).
  const beat = setInterval(() => agent.send({ type: 'heartbeat', load1: 0, memUsedBytes: 0, swapUsedBytes: 0, running: [] }), 200);
  t.teardown(() => clearInterval(beat));
  const jobId = await farm.submit(['-q', 'fakeq', '-cwd', '-b', 'y', 'true']);
  const assign = await agent.next('assign');
  const attemptId = assign['attemptId'] as string;
  const chunk = (seq: number, text: string) => ({ type: 'output', attemptId, stream: 'stdout', seq, data: Buffer.from(text).toString('base64') });
  agent.send({ type: 'started', attemptId, pid: 4242, startedAt: Date.now() });
  agent.send(chunk(0, 'line one\n'));
  agent.send(chunk(1, 'line two\n'));
  agent.send(chunk(1, 'line two\n'));
  agent.send(chunk(0, 'line one\n'));
  agent.send(chunk(2, 'line three\n'));
  agent.send(finishedFrame(attemptId, 3));
  t.equal((await agent.next('ack'))['attemptId'], attemptId, 'the result is acknowledged');
  await farm.waitForJob(jobId);

  // What a reconnecting agent does: every frame of the attempt again, then a different result.
  agent.send({ type: 'started', attemptId, pid: 4242, startedAt: Date.now() });
  for (const [seq, text] of [[0, 'line one\n'], [1, 'line two\n'], [2, 'line three\n'], [2, 'line three\n']] as const) agent.send(chunk(seq, text));
  agent.send(finishedFrame(attemptId, 0));
  agent.send(finishedFrame(attemptId, 0));
  t.equal((await agent.next('ack'))['attemptId'], attemptId, 'a replayed result is acknowledged too (the agent may forget it)');
  t.equal((await agent.next('ack'))['attemptId'], attemptId, 'as is a second replay');

  t.same(query(farm, 'SELECT state, exit_status FROM attempts WHERE job_id = ?', jobId), [{ state: 'done', exit_status: 3 }], 'one attempt, with the first result');
  t.same(query(farm, 'SELECT state, exit_status, attempts FROM tasks WHERE job_id = ?', jobId), [{ state: 'done', exit_status: 3, attempts: 1 }], 'the task keeps exit 3');
  const records = await qacctRecords(farm, jobId);
  t.equal(records.length, 1, 'qacct shows one record');
  t.match(records[0], /^exit_status\s+3\s*$/m, 'with exit status 3');
  t.equal(await logs(farm, String(jobId)), 'line one\nline two\nline three\n', 'qfarm logs shows each line once, in order');
  t.equal(agent.ws.readyState, agent.ws.OPEN, 'replays are not a protocol error: the connection stays open');
  agent.close();
});

t.test('a real agent that finished while the master was down delivers its result and output once', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, leaseGraceMs: 20_000 });
  const gate = path.join(farm.work, 'gate');
  const jobId = await farm.submit(['-q', 'default', '-cwd', '-b', 'y', 'sh', '-c', 'echo before; while [ ! -e "$1" ]; do sleep 0.05; done; echo after; exit 5', 'x', gate]);
  await farm.waitFor(async () => (await logs(farm, String(jobId))) === 'before\n', 20_000, 'the first line to reach the master');
  const [attempt] = query<{ id: string }>(farm, 'SELECT id FROM attempts WHERE job_id = ?', jobId);

  await farm.stopProcess(farm.master, 'SIGKILL');
  fs.writeFileSync(gate, '');
  // The task ends while nobody listens: the agent keeps started, both lines and finished.
  await farm.waitFor(() => !processRunning(gate), 20_000, 'the task to end');
  const port = Number(new URL(farm.url).port);
  await farm.startMaster(port);
  await farm.waitForJob(jobId);

  t.same(query(farm, 'SELECT id, state, exit_status FROM attempts WHERE job_id = ?', jobId), [{ id: attempt!.id, state: 'done', exit_status: 5 }], 'the same attempt, committed once');
  const records = await qacctRecords(farm, jobId);
  t.equal(records.length, 1, 'qacct shows one record');
  t.match(records[0], /^exit_status\s+5\s*$/m);
  t.equal(await logs(farm, String(jobId)), 'before\nafter\n', '"before" (stored, then replayed) appears once');
  const connects = farm.masterLogText().split('\n').filter((l) => l.includes('"agent connected"') && l.includes('"node1"'));
  t.equal(connects.length, 2, 'node1 connected to the first master and again to the restarted one');
});
