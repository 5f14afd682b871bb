import t from 'tap';
import { jobSubmission, openTestStore, referenceClock } from '../helpers/test-store.js';
import { CommitOutcome, type Transitions } from '../../master/store/transitions.js';
import { agentViewsFor, groupRow, pendingWorkFor, VIEW_SLICE, type HostsInMemory } from '../../master/store/group-store.js';
import { defaultGroupSpec, specAsInput } from '../../master/groups/group-specs.js';
import { jobFitsGroup, queueNamesGroup } from '../../master/groups/job-fit.js';
import { compileGroupSpec } from '../../protocol/groups.js';
import type { AgentHello, TaskFinished } from '../../protocol/agent-messages.js';

/** The groups' store functions and the autoscaler's inputs, on a real SQLite store. */
const clock = referenceClock;

function setup(t: { teardown(fn: () => void): void }) {
  const { db, reader, transitions } = openTestStore(t, 'groups');
  return { db, reader, transitions };
}

/** The master's view of the hosts: every agent connected, or none. */
const connected = (transitions: Transitions, yes: boolean): HostsInMemory => ({
  isConnected: () => yes,
  unwrittenLastEndOf: (agentId) => transitions.unwrittenLastEndOf(agentId),
});

const job = jobSubmission;

function hello(agentId: string, group: string, labels: Record<string, string> = {}): AgentHello {
  return {
    type: 'hello', protocolVersion: 1, agentVersion: 'test', agentId, hostname: agentId, group, arch: 'lx-amd64', cpus: 2, sockets: 1, cores: 2,
    threads: 2, slots: 1, memTotalBytes: 1e9, swapTotalBytes: 0, labels, attempts: [],
  };
}

const usage = { cpuSeconds: 0, utimeSeconds: 0, stimeSeconds: 0, rssBytes: 0, maxRssBytes: 0, vmemBytes: 0, maxVmemBytes: 0, ioBytes: 0 };
const killed = (attemptId: string): TaskFinished => ({
  type: 'finished', attemptId, exitStatus: 137, signal: 'SIGKILL', failedCode: 100, failedReason: 'spot reclaim', startedAt: clock.t, endedAt: clock.t, usage,
});

t.test('interrupted attempts requeue their task; the kill\'s late result is stale', async (t) => {
  const { db, reader, transitions } = setup(t);
  transitions.upsertHost(hello('vm-1', 'spot', { 'qfarm.instance-id': 'i-1' }));
  const { jobId } = transitions.submitJob(job({ queue: 'spot', array: { first: 1, last: 2, step: 1 } }));
  const [a, b] = transitions.leaseTasks(reader.job(jobId)!, { agentId: 'vm-1', hostname: 'vm-1', group: 'spot' }, 2);
  t.equal(transitions.markHostInterrupted('vm-1', [a!.attemptId], 'interrupted: reclaimed'), 1);
  t.equal(db.prepare('SELECT state FROM attempts WHERE id = ?').pluck().get(a!.attemptId), 'interrupted');
  t.equal(db.prepare('SELECT state FROM tasks WHERE job_id = ? AND task_id = 1').pluck().get(jobId), 'pending', 'the task waits to run again');
  t.equal(db.prepare('SELECT state FROM attempts WHERE id = ?').pluck().get(b!.attemptId), 'leased', 'an attempt expected to finish in time is left alone');
  const host = db.prepare('SELECT draining, interrupted_at FROM hosts WHERE agent_id = ?').get('vm-1') as { draining: number; interrupted_at: number };
  t.same(host, { draining: 1, interrupted_at: clock.t });
  t.equal(transitions.commitResult(killed(a!.attemptId)), CommitOutcome.Stale, 'the killed attempt\'s result is discarded, not a failure');
  const views = await agentViewsFor(db, 'spot', connected(transitions, true));
  t.equal(views.length, 1);
  t.same([views[0]!.interrupted, views[0]!.draining, views[0]!.instanceId, views[0]!.running.map((r) => r.attemptId)], [true, true, 'i-1', [b!.attemptId]]);

  transitions.resetHostsOfInstance('i-1');
  const reset = db.prepare('SELECT draining, interrupted_at, lost FROM hosts WHERE agent_id = ?').get('vm-1');
  t.same(reset, { draining: 0, interrupted_at: null, lost: 0 }, 'a machine id used again starts clean');
});

t.test('a lost host\'s attempts are requeued at once; hand-started hosts are never managed', async (t) => {
  const { db, reader, transitions } = setup(t);
  transitions.upsertHost(hello('vm-1', 'spot', { 'qfarm.instance-id': 'i-1' }));
  transitions.upsertHost(hello('byhand', 'spot'));
  const { jobId } = transitions.submitJob(job());
  const [a] = transitions.leaseTasks(reader.job(jobId)!, { agentId: 'vm-1', hostname: 'vm-1', group: 'spot' }, 1);
  t.same((await agentViewsFor(db, 'spot', connected(transitions, false))).map((v) => v.agentId), ['vm-1'], 'a disconnected hand-started agent is left to the lease grace');
  t.same((await agentViewsFor(db, 'spot', connected(transitions, true))).map((v) => v.agentId).sort(), ['byhand', 'vm-1'], 'connected, it counts as capacity');
  t.equal(transitions.markHostLost('vm-1', 'host lost: instance gone'), 1);
  t.equal(db.prepare('SELECT state FROM attempts WHERE id = ?').pluck().get(a!.attemptId), 'lost');
  t.equal(db.prepare('SELECT lost FROM hosts WHERE agent_id = ?').pluck().get('vm-1'), 1);
  t.same(await agentViewsFor(db, 'spot', connected(transitions, false)), [], 'lost and disconnected: not shown to the autoscaler again');
  transitions.markHostFound('vm-1');
  t.equal(db.prepare('SELECT lost FROM hosts WHERE agent_id = ?').pluck().get('vm-1'), 0);
});

t.test("the autoscaler's view of a host: its running tasks with their job's mean wall time, and since when it is idle", async (t) => {
  const { db, reader, transitions } = setup(t);
  transitions.upsertHost(hello('vm-1', 'render', { 'qfarm.instance-id': 'i-1' }));
  transitions.upsertHost(hello('vm-2', 'render', { 'qfarm.instance-id': 'i-2' }));
  const { jobId } = transitions.submitJob(job({ queue: 'render', array: { first: 1, last: 3, step: 1 } }));
  const on = (agentId: string) => ({ agentId, hostname: agentId, group: 'render' });
  const finish = (attemptId: string, startedAt: number, endedAt: number) =>
    transitions.commitResult({ type: 'finished', attemptId, exitStatus: 0, signal: null, failedCode: 0, failedReason: '', startedAt, endedAt, usage });
  const [first] = transitions.leaseTasks(reader.job(jobId)!, on('vm-1'), 1);
  const [second] = transitions.leaseTasks(reader.job(jobId)!, on('vm-2'), 1);
  t.equal(finish(first!.attemptId, clock.t, clock.t + 2000), CommitOutcome.Committed);
  t.equal(finish(second!.attemptId, clock.t, clock.t + 6000), CommitOutcome.Committed);
  const [third] = transitions.leaseTasks(reader.job(jobId)!, on('vm-1'), 1);
  transitions.markStarted(third!.attemptId, 42, clock.t + 7000);
  const views = new Map((await agentViewsFor(db, 'render', connected(transitions, true))).map((v) => [v.agentId, v]));
  t.same(views.get('vm-1')!.running, [{ attemptId: third!.attemptId, startedAt: clock.t + 7000, slots: 1, expectedSeconds: 4 }], 'the mean of 2 s and 6 s');
  t.equal(views.get('vm-1')!.idleSince, undefined, 'busy');
  t.same([views.get('vm-2')!.running, views.get('vm-2')!.idleSince, views.get('vm-2')!.instanceId, views.get('vm-2')!.slots], [[], clock.t + 6000, 'i-2', 1], 'idle since its last task ended');
});

t.test("a host's last end is kept in memory, written with its last_seen or at the master's stop, and seen by the autoscaler either way", async (t) => {
  const { db, reader, transitions } = setup(t);
  transitions.upsertHost(hello('vm-1', 'render', { 'qfarm.instance-id': 'i-1' }));
  transitions.upsertHost(hello('vm-2', 'render', { 'qfarm.instance-id': 'i-2' }));
  const { jobId } = transitions.submitJob(job({ queue: 'render', array: { first: 1, last: 4, step: 1 } }));
  const run = (agentId: string, endedAt: number) => {
    const [lease] = transitions.leaseTasks(reader.job(jobId)!, { agentId, hostname: agentId, group: 'render' }, 1);
    transitions.commitResult({ type: 'finished', attemptId: lease!.attemptId, exitStatus: 0, signal: null, failedCode: 0, failedReason: '', startedAt: clock.t, endedAt, usage });
  };
  const stored = (agentId: string) => db.prepare('SELECT last_ended_at FROM hosts WHERE agent_id = ?').pluck().get(agentId);
  const idleSince = async (agentId: string) => (await agentViewsFor(db, 'render', connected(transitions, true))).find((v) => v.agentId === agentId)!.idleSince;

  run('vm-1', clock.t + 5000);
  t.equal(stored('vm-1'), null, "a result does not write the host's row");
  t.equal(await idleSince('vm-1'), clock.t + 5000, 'the autoscaler sees the end all the same');

  transitions.touchHosts(['vm-1']);
  t.equal(stored('vm-1'), clock.t + 5000, "written with the host's last_seen");
  t.equal(transitions.unwrittenLastEndOf('vm-1'), undefined, 'and no longer held in memory');
  t.equal(await idleSince('vm-1'), clock.t + 5000);

  run('vm-1', clock.t + 9000);
  t.equal(await idleSince('vm-1'), clock.t + 9000, 'a newer end in memory wins over the row');
  run('vm-2', clock.t + 7000);
  transitions.touchHosts(['vm-2']);
  t.same([stored('vm-1'), stored('vm-2')], [clock.t + 5000, clock.t + 7000], 'only the touched host is written');

  transitions.writeHostLastEnds();
  t.same([stored('vm-1'), stored('vm-2')], [clock.t + 9000, clock.t + 7000], "at the master's stop every unwritten end is written");
  t.equal(await idleSince('vm-1'), clock.t + 9000);
});

t.test("a host's last end whose write fails stays in memory for the next write", async (t) => {
  const { db, reader, transitions } = setup(t);
  transitions.upsertHost(hello('vm-1', 'render', { 'qfarm.instance-id': 'i-1' }));
  const { jobId } = transitions.submitJob(job({ queue: 'render' }));
  const [lease] = transitions.leaseTasks(reader.job(jobId)!, { agentId: 'vm-1', hostname: 'vm-1', group: 'render' }, 1);
  transitions.commitResult({ type: 'finished', attemptId: lease!.attemptId, exitStatus: 0, signal: null, failedCode: 0, failedReason: '', startedAt: clock.t, endedAt: clock.t + 3000, usage });
  db.exec("CREATE TRIGGER refuse BEFORE UPDATE ON hosts BEGIN SELECT RAISE(ABORT, 'disk full'); END");
  t.throws(() => transitions.touchHosts(['vm-1']), /disk full/);
  t.throws(() => transitions.writeHostLastEnds(), /disk full/);
  t.equal(transitions.unwrittenLastEndOf('vm-1'), clock.t + 3000, 'kept after both failed writes');
  db.exec('DROP TRIGGER refuse');
  transitions.touchHosts(['vm-1']);
  t.equal(db.prepare('SELECT last_ended_at FROM hosts WHERE agent_id = ?').pluck().get('vm-1'), clock.t + 3000, 'written by the next one');
  t.equal(transitions.unwrittenLastEndOf('vm-1'), undefined);
});

t.test("a big group's view is read in slices, the event loop free between them, and misses no host or task", async (t) => {
  const { db, reader, transitions } = setup(t);
  const hosts = 2 * VIEW_SLICE + 17;
  const ids = Array.from({ length: hosts }, (_, i) => `vm-${String(i).padStart(4, '0')}`);
  for (const id of ids) transitions.upsertHost(hello(id, 'big', { 'qfarm.instance-id': `i-${id}` }));
  transitions.upsertHost(hello('elsewhere', 'other'));
  const { jobId } = transitions.submitJob(job({ queue: 'big', array: { first: 1, last: hosts, step: 1 } }));
  // Every third host runs a task, the hosts on both sides of the first slice's edge among them.
  const busy = ids.filter((_, i) => i % 3 === 0 || i === VIEW_SLICE - 1 || i === VIEW_SLICE);
  const leased = new Map(busy.map((id) => [id, transitions.leaseTasks(reader.job(jobId)!, { agentId: id, hostname: id, group: 'big' }, 1)[0]!.attemptId]));
  let pauses = 0;
  const views = await agentViewsFor(db, 'big', connected(transitions, true), async () => void pauses++);
  t.equal(pauses, 2, `${hosts} hosts: three slices of at most ${VIEW_SLICE}, two pauses`);
  t.same(views.map((v) => v.agentId), ids, 'each host of the group once, in id order, none of another group');
  t.same(
    views.filter((v) => v.running.length > 0).map((v) => [v.agentId, v.running.map((r) => r.attemptId)]),
    busy.map((id) => [id, [leased.get(id)]]),
    'each running task on its own host',
  );
});

t.test('groups: create once, update, decisions, delete; the default spec', async (t) => {
  const { db, transitions } = setup(t);
  const spec = compileGroupSpec({ name: 'render', provider: 'local', maxSize: 2 });
  t.ok(transitions.createGroup('render', JSON.stringify(spec)));
  t.notOk(transitions.createGroup('render', JSON.stringify(spec)), 'a second create of the same name is refused');
  transitions.recordGroupDecision('render', { desired: 2, reasons: ['launch 2'], historyJson: '{"lastScaleOutAt":5}', lastError: 'quota exhausted' });
  const row = groupRow(db, 'render')!;
  t.same([row.desired, row.reasons, row.history, row.lastError], [2, ['launch 2'], { lastScaleOutAt: 5 }, 'quota exhausted']);
  const bigger = compileGroupSpec({ ...specAsInput(row.spec), maxSize: 5 });
  t.ok(transitions.updateGroup('render', JSON.stringify(bigger)));
  t.equal(groupRow(db, 'render')!.spec.maxSize, 5);
  t.ok(transitions.deleteGroup('render'));
  t.equal(groupRow(db, 'render'), undefined);
  const def = defaultGroupSpec();
  t.same([def.name, def.provider, def.autoscale.enabled, def.desiredSize], ['default', 'local', false, 0]);
});

t.test('which queued work a group serves: -q names or globs, labels, holds', async (t) => {
  const { db, reader, transitions } = setup(t);
  const spec = compileGroupSpec({ name: 'gpu', provider: 'local', labels: { cuda: '12' } });
  t.ok(queueNamesGroup(null, 'gpu'));
  t.ok(queueNamesGroup('cpu,gpu@node7', 'gpu'));
  t.ok(queueNamesGroup('g*', 'gpu'));
  t.notOk(queueNamesGroup('cpu', 'gpu'));
  t.notOk(jobFitsGroup({ queue: null }, job({ resources: { other: { cuda: '11' } } }), spec), 'a label the group defines must match');
  t.ok(jobFitsGroup({ queue: null }, job({ resources: { other: { os: 'linux' } } }), spec), 'a label it does not define is no constraint');
  transitions.submitJob(job({ queue: 'gpu', array: { first: 1, last: 4, step: 1 }, slots: 2 }));
  transitions.submitJob(job({ queue: 'cpu' }));
  transitions.submitJob(job({ hold: true }));
  t.same(pendingWorkFor(db, reader, spec), [{ slots: 2, count: 4 }]);
});
