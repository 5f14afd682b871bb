import t from 'tap';
import { compileGroupSpec, type GroupSpec } from '../../protocol/groups.js';
import { planGroup } from '../../master/groups/plan.js';
import type { AgentView, GroupScalingState, PendingWork, ScalingHistory } from '../../master/groups/scaling-state.js';
import type { Instance } from '../../master/providers/provider.js';
import { paidSecondsLeft } from '../../master/groups/billing.js';

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);
const S = 1000;

function spec(over: Record<string, unknown> = {}): GroupSpec {
  return compileGroupSpec({
    name: 'render',
    provider: 'ecs',
    instanceTypes: ['ecs.c6.xlarge'],
    image: 'm-1',
    minSize: 0,
    maxSize: 8,
    slotsPerInstance: 4,
    ecs: { regionId: 'cn-shenzhen', vSwitchId: 'vsw', securityGroupId: 'sg' },
    autoscale: { scaleOutCooldownSeconds: 60, scaleInCooldownSeconds: 300, idleSeconds: 120, joinDeadlineSeconds: 300, maxLaunchPerStep: 10, targetDrainSeconds: 600 },
    ...over,
  });
}

function inst(id: string, launchedAt: number, over: Partial<Instance> = {}): Instance {
  return { id, group: 'render', state: 'running', agentName: id, launchedAt, spot: true, ...over };
}

function agent(id: string, over: Partial<AgentView> = {}): AgentView {
  return { agentId: `agent-${id}`, instanceId: id, slots: 4, connected: true, lastSeen: T0, running: [], draining: false, ...over };
}

function busy(n: number, startedAt: number, expectedSeconds?: number): AgentView['running'] {
  return Array.from({ length: n }, (_, k) => ({ attemptId: `a${startedAt}-${k}`, startedAt, slots: 1, ...(expectedSeconds ? { expectedSeconds } : {}) }));
}

function state(s: GroupSpec, instances: Instance[], agents: AgentView[], pending: PendingWork[], history: ScalingHistory = {}): GroupScalingState {
  return { spec: s, instances, agents, pending, history };
}

t.test('queue surge, spot notice, and drain through one group', async (t) => {
  const s = spec();
  // Quiet: nothing queued, nothing running.
  let p = planGroup(state(s, [], [], []), T0);
  t.equal(p.desired, 0);
  t.equal(p.launch, 0);

  // Surge: 40 one-slot tasks with unknown runtime → 10 machines, clamped to max 8.
  p = planGroup(state(s, [], [], [{ slots: 1, count: 40 }]), T0);
  t.equal(p.desired, 8);
  t.equal(p.launch, 8);
  t.match(p.reasons.join('\n'), /40 queued slots \/ 4 per machine/);
  const history: ScalingHistory = { lastScaleOutAt: T0 };

  // 10 s later the 8 machines are pending and not joined: nothing more to launch.
  const ids = Array.from({ length: 8 }, (_, k) => `i-${k}`);
  let instances = ids.map((id) => inst(id, T0, { state: 'pending' }));
  p = planGroup(state(s, instances, [], [{ slots: 1, count: 40 }], history), T0 + 10 * S);
  t.equal(p.launch, 0);
  t.same(p.terminate, [], 'not joined yet, but within the join deadline');

  // All joined and busy (32 running), 8 still queued.
  const now = T0 + 120 * S;
  instances = ids.map((id) => inst(id, T0));
  let agents = ids.map((id) => agent(id, { running: busy(4, T0 + 100 * S), lastSeen: now }));
  p = planGroup(state(s, instances, agents, [{ slots: 1, count: 8 }], history), now);
  t.equal(p.desired, 8);
  t.equal(p.launch, 0);

  // Spot notice on i-3: one task is about to finish (kept), three would not (requeued).
  agents = agents.map((a) =>
    a.instanceId === 'i-3'
      ? {
          ...a,
          spotTerminationTime: new Date(now + 300 * S).toISOString(),
          running: [
            { attemptId: 'soon', startedAt: now - 100 * S, slots: 1, expectedSeconds: 130 },
            { attemptId: 'long1', startedAt: now - 10 * S, slots: 1, expectedSeconds: 3600 },
            { attemptId: 'unknown1', startedAt: now - 10 * S, slots: 1 },
            { attemptId: 'unknown2', startedAt: now - 10 * S, slots: 1 },
          ],
        }
      : a,
  );
  p = planGroup(state(s, instances, agents, [{ slots: 1, count: 8 }], history), now + 1 * S);
  t.equal(p.markInterrupted.length, 1);
  t.equal(p.markInterrupted[0]!.instanceId, 'i-3');
  t.same(p.markInterrupted[0]!.requeue.sort(), ['long1', 'unknown1', 'unknown2']);
  t.equal(p.healthy, 7);
  t.equal(p.launch, 1, 'topped up despite the scale-out cooldown');
  t.match(p.reasons.join('\n'), /to replace or reach min/);

  // The reclaimed machine disappears; its agent disconnects and is marked lost (not yet by the master).
  instances = instances.filter((i) => i.id !== 'i-3').concat(inst('i-8', now + 2 * S, { state: 'pending' }));
  agents = agents.map((a) => (a.instanceId === 'i-3' ? { ...a, connected: false, interrupted: true, running: [] } : a));
  p = planGroup(state(s, instances, agents, [{ slots: 1, count: 8 }], history), now + 200 * S);
  t.same(p.markLost.map((l) => l.agentId), ['agent-i-3']);
  t.equal(p.launch, 0, 'i-8 replaces i-3');

  // Drain: the queue is empty and everyone went idle at `idleAt`.
  const idleAt = now + 500 * S;
  const agentsIdle: AgentView[] = agents
    .filter((a) => a.instanceId !== 'i-3')
    .map((a, k): AgentView => ({ ...a, running: [], idleSince: idleAt - k * 10 * S, lastSeen: idleAt }))
    .concat(agent('i-8', { idleSince: idleAt, lastSeen: idleAt }));
  const drainHistory = { lastScaleOutAt: now + 1 * S };
  p = planGroup(state(s, instances, agentsIdle, [], drainHistory), idleAt + 30 * S);
  t.equal(p.desired, 0);
  t.same(p.terminate, [], 'idle for only 30 s: kept');
  t.match(p.reasons.join('\n'), /idle only 30s of 120s/);

  p = planGroup(state(s, instances, agentsIdle, [], drainHistory), idleAt + 200 * S);
  t.equal(p.terminate.length, 8, 'all idle machines released');
  t.same(p.drain, []);
  t.equal(p.terminate[0]!.instanceId, 'i-7', 'idle longest goes first');
});

t.test('scale-in honours its cooldown and min size', async (t) => {
  const s = spec({ minSize: 2 });
  const instances = ['a', 'b', 'c'].map((id) => inst(id, T0));
  const agents = ['a', 'b', 'c'].map((id) => agent(id, { idleSince: T0, lastSeen: T0 + 1000 * S }));
  let p = planGroup(state(s, instances, agents, [], { lastScaleInAt: T0 + 900 * S }), T0 + 1000 * S);
  t.same(p.terminate, []);
  t.match(p.reasons.join('\n'), /scale in by 1 held by cooldown/);
  p = planGroup(state(s, instances, agents, [], { lastScaleInAt: T0 }), T0 + 1000 * S);
  t.equal(p.terminate.length, 1, 'down to min 2, not 0');
});

t.test('scale-out waits for its cooldown unless below min', async (t) => {
  const s = spec({ minSize: 1 });
  let p = planGroup(state(s, [], [], [{ slots: 1, count: 12 }], { lastScaleOutAt: T0 - 30 * S }), T0);
  t.equal(p.launch, 1, 'only the minimum, cooldown holds the rest');
  t.match(p.reasons.join('\n'), /scale out of 2 more held by cooldown for 30s/);
  p = planGroup(state(s, [], [], [{ slots: 1, count: 12 }], { lastScaleOutAt: T0 - 61 * S }), T0);
  t.equal(p.launch, 3);
});

t.test('known runtimes size the group to drain the queue in the target time', async (t) => {
  const s = spec();
  // 100 tasks × 60 s × 1 slot = 6000 slot-seconds; 4 slots × 600 s per machine → 3 machines, not 25.
  const p = planGroup(state(s, [], [], [{ slots: 1, count: 100, expectedSeconds: 60 }]), T0);
  t.equal(p.desired, 3);
  // A task shape that cannot fit a 4-slot machine is reported, not counted.
  const q = planGroup(state(s, [], [], [{ slots: 8, count: 2 }]), T0);
  t.equal(q.desired, 0);
  t.match(q.reasons.join('\n'), /2 queued task\(s\) need more than 4 slots/);
});

t.test('busy victims are drained, least elapsed work first, then released when idle', async (t) => {
  const s = spec({ desiredSize: 1, autoscale: { enabled: false } });
  const now = T0 + 3600 * S;
  const instances = [inst('old', T0), inst('young', T0)];
  const agents = [
    agent('old', { running: busy(4, T0 + 10 * S) }),
    agent('young', { running: busy(4, now - 60 * S) }),
  ];
  let p = planGroup(state(s, instances, agents, []), now);
  t.equal(p.desired, 1);
  t.same(p.terminate, []);
  t.same(p.drain.map((d) => d.instanceId), ['young'], 'the one that loses least work');
  // Next pass: the drained agent finished its tasks.
  const after = [agents[0]!, { ...agents[1]!, draining: true, running: [], idleSince: now + 100 * S }];
  p = planGroup(state(s, instances, after, []), now + 120 * S);
  t.same(p.terminate.map((x) => x.instanceId), ['young']);
  t.match(p.terminate[0]!.reason, /drained and idle/);
});

t.test('hourly billing keeps idle machines until the end of their paid hour', async (t) => {
  const s = spec({ billing: { unitSeconds: 3600, minimumSeconds: 3600 } });
  const instances = [inst('x', T0)];
  const agents = [agent('x', { idleSince: T0 + 60 * S })];
  let p = planGroup(state(s, instances, agents, []), T0 + 30 * 60 * S);
  t.same(p.terminate, []);
  t.match(p.reasons.join('\n'), /kept x: 1800s already paid for/);
  p = planGroup(state(s, instances, agents, []), T0 + 56 * 60 * S);
  t.same(p.terminate.map((x) => x.instanceId), ['x']);
  t.equal(paidSecondsLeft(T0, T0 + 30 * S, { unitSeconds: 1, minimumSeconds: 60 }), 30, 'per-second billing: first minute minimum');
});

t.test('reconciliation: never joined → released; gone machine → agent lost; manual agent → capacity only', async (t) => {
  const s = spec({ minSize: 1 });
  const now = T0 + 600 * S;
  const instances = [inst('late', T0, { state: 'running' }), inst('fresh', now - 10 * S, { state: 'pending' })];
  const agents = [
    agent('gone', { connected: false, lastSeen: now - 20 * S }),
    { ...agent('manual'), instanceId: undefined, agentId: 'hand-started' } as AgentView,
  ];
  const p = planGroup(state(s, instances, agents, []), now);
  t.same(p.terminate.map((x) => x.instanceId), ['late']);
  t.match(p.terminate[0]!.reason, /never joined within 300s/);
  t.same(p.markLost.map((l) => l.agentId), ['agent-gone']);
  t.match(p.reasons.join('\n'), /hand-started/);
  t.equal(p.healthy, 2, "'fresh' and the hand-started agent");
  t.equal(p.launch, 0);
});

t.test('machines near their ECS auto-release are drained and replaced, not cut off', async (t) => {
  const s = spec({ minSize: 1 });
  const now = T0 + 23.5 * 3600 * S;
  const instances = [inst('old', T0, { autoReleaseAt: T0 + 24 * 3600 * S })];
  const agents = [agent('old', { running: busy(2, now - 60 * S), lastSeen: now })];
  let p = planGroup(state(s, instances, agents, [], { lastScaleOutAt: now - 10 * S }), now);
  t.same(p.drain.map((d) => d.instanceId), ['old']);
  t.match(p.drain[0]!.reason, /auto-release time/);
  t.equal(p.launch, 1, 'replacement launched despite the cooldown');
  // Next pass: drained and idle → released.
  const later = [{ ...agents[0]!, draining: true, running: [], idleSince: now + 60 * S }];
  p = planGroup(state(s, [...instances, inst('new', now)], [...later, agent('new')], [], { lastScaleOutAt: now }), now + 120 * S);
  t.same(p.terminate.map((x) => x.instanceId), ['old']);
  t.equal(p.launch, 0);
});

t.test('an agent named after its VM (BatchCompute) is not lost while the VM is listed', async (t) => {
  const s = spec();
  const instances = [inst('bc-inst-1', T0, { agentName: 'i-ecs-1' })];
  const agents = [agent('i-ecs-1', { connected: false, lastSeen: T0 + 50 * S })];
  const p = planGroup(state(s, instances, agents, []), T0 + 60 * S);
  t.same(p.markLost, []);
});
