import t from 'tap';
import { compileGroupSpec } from '../../protocol/groups.js';
import { Autoscaler } from '../../master/groups/autoscaler.js';
import type { AgentView, PendingWork } from '../../master/groups/scaling-state.js';
import { AlibabaCredentials } from '../../master/providers/alibaba-credentials.js';
import { EcsProvider } from '../../master/providers/ecs-provider.js';
import { DROP_RESPONSE, FakeAlibaba } from '../../fakes/alibaba/server.js';

/**
 * The autoscaler's decisions carried out by the ECS provider against the signature-checking
 * fake, with an injected clock shared by the fake: a surge, a spot reclaim with top-up, a lost
 * answer retried under the same ClientToken, and a drain to zero.
 */
t.test('surge, spot reclaim and drain through the ECS fake', async (t) => {
  let offset = 0;
  const now = (): number => Date.now() + offset;
  const fake = new FakeAlibaba({ accessKeys: { k1: 's1' }, now, maxSkewMs: Number.MAX_SAFE_INTEGER });
  await fake.listen();
  t.teardown(() => fake.close());
  const provider = new EcsProvider({
    credentials: new AlibabaCredentials('k1', 's1'),
    farmId: 'farm-e2e',
    endpoint: fake.url,
    bootstrap: { masterUrl: 'http://master:7878', agentToken: 'tok' },
    retry: { maximumAttempts: 2, initialIntervalMs: 1, maximumIntervalMs: 2 },
    pageSize: 3,
    now,
  });
  const spec = compileGroupSpec({
    name: 'frames',
    provider: 'ecs',
    instanceTypes: ['ecs.c6.xlarge'],
    image: 'm-1',
    maxSize: 8,
    slotsPerInstance: 2,
    spot: { strategy: 'as-price-go' },
    ecs: { regionId: 'cn-hangzhou', vSwitchId: 'vsw', securityGroupId: 'sg' },
    autoscale: { scaleOutCooldownSeconds: 60, scaleInCooldownSeconds: 120, idleSeconds: 60, joinDeadlineSeconds: 300 },
  });
  const scaler = new Autoscaler({ providerFor: () => provider, clock: { now } });

  // Agents the master would see: one per fake instance, busy with `perAgent` tasks.
  const agentsFor = (perAgent: number, idleSince?: number): AgentView[] =>
    [...fake.ecs.instances.values()].map((i) => ({
      agentId: `agent-${i.InstanceId}`,
      instanceId: i.InstanceId,
      slots: 2,
      connected: true,
      lastSeen: now(),
      running: Array.from({ length: perAgent }, (_, k) => ({ attemptId: `${i.InstanceId}-${k}`, startedAt: now() - 10_000, slots: 1 })),
      draining: false,
      ...(i.terminationTime ? { spotTerminationTime: i.terminationTime } : {}),
      ...(idleSince === undefined ? {} : { idleSince }),
    }));
  const queue = (count: number): PendingWork[] => [{ slots: 1, count }];

  // Surge: 12 tasks / 2 slots = 6 machines.
  let r = await scaler.step({ spec, agents: [], pending: queue(12) });
  t.same(r.errors, []);
  t.equal(r.plan.launch, 6);
  t.equal(fake.ecs.instances.size, 6);
  const firstToken = fake.ecs.calls.find((c) => c.action === 'RunInstances')!.params.ClientToken;
  t.ok(firstToken);

  // Joined and busy, 8 more queued: 8 wanted but the scale-out cooldown holds (6 listed over 2 pages of 3).
  offset += 30_000;
  r = await scaler.step({ spec, agents: agentsFor(2), pending: queue(8) });
  t.equal(r.plan.desired, 8);
  t.equal(r.plan.launch, 0);
  t.equal(r.plan.healthy, 6);
  t.match(r.plan.reasons.join('\n'), /held by cooldown/);

  // Spot reclaim of one machine: the plan interrupts its agent and tops the group up at once,
  // although the scale-out cooldown (60 s) has not passed. The launch's answer is lost twice:
  // retries run out and the outcome is unknown.
  const victim = [...fake.ecs.instances.keys()][0]!;
  fake.ecs.interrupt(victim);
  fake.failNext('RunInstances', DROP_RESPONSE, 2);
  offset += 5_000;
  r = await scaler.step({ spec, agents: agentsFor(2), pending: queue(8) });
  t.same(r.plan.markInterrupted.map((m) => m.instanceId), [victim]);
  t.equal(r.plan.markInterrupted[0]!.requeue.length, 2, 'both unknown-length tasks requeued as interrupted');
  t.equal(r.plan.launch, 1);
  t.equal(r.errors[0]?.name, 'ProviderUnavailableError');
  t.equal(fake.ecs.instances.size, 7, 'the lost launch did happen once');

  // ECS releases the reclaimed machine: its agent is lost. After the cooldown the group grows
  // to 8; the unsettled launch goes first, with the same token and count, so ECS hands back the
  // machine it already made instead of a second one.
  fake.ecs.reclaim(victim);
  offset += 61_000;
  const lostAgent: AgentView = { agentId: `agent-${victim}`, instanceId: victim, slots: 2, connected: false, lastSeen: now() - 5_000, running: [], draining: false, interrupted: true };
  r = await scaler.step({ spec, agents: [...agentsFor(2), lostAgent], pending: queue(20) });
  t.same(r.errors, []);
  t.same(r.plan.markLost.map((l) => l.agentId), [`agent-${victim}`], 'its machine is gone: lost');
  t.equal(r.plan.launch, 2);
  t.equal(r.launched.length, 1, 'same token: the machine from the lost answer');
  t.equal(fake.ecs.instances.size, 6, 'no machine launched twice');
  const tokens = fake.ecs.calls.filter((c) => c.action === 'RunInstances').map((c) => c.params.ClientToken);
  t.equal(tokens.at(-1), tokens.at(-2), 'retried under the same ClientToken');

  offset += 61_000;
  r = await scaler.step({ spec, agents: agentsFor(2), pending: queue(20) });
  t.equal(r.launched.length, 2, 'then a fresh launch with a new token');
  t.equal(fake.ecs.instances.size, 8);

  // Drain: the queue is empty, everyone idle. Cooldown first, then release all (min 0).
  const idleAt = now();
  offset += 70_000;
  r = await scaler.step({ spec, agents: agentsFor(0, idleAt), pending: [] });
  t.same(r.terminated, [], 'scale-in cooldown after the last scale-out');
  offset += 120_000;
  r = await scaler.step({ spec, agents: agentsFor(0, idleAt), pending: [] });
  t.same(r.errors, []);
  t.equal(r.terminated.length, 8, r.plan.reasons.join(' / '));
  t.equal(fake.ecs.instances.size, 0);
  t.ok(fake.log.every((l) => l.code !== 'SignatureDoesNotMatch'), 'every request was correctly signed');
});

t.test('a pass whose provider cannot list fails as a whole with the named error', async (t) => {
  const fake = new FakeAlibaba({ accessKeys: { k1: 's1' } });
  await fake.listen();
  t.teardown(() => fake.close());
  const provider = new EcsProvider({ credentials: new AlibabaCredentials('k1', 'wrong'), farmId: 'f', endpoint: fake.url, bootstrap: { masterUrl: 'http://m', agentToken: 't' } });
  const spec = compileGroupSpec({ name: 'g', provider: 'ecs', instanceTypes: ['t'], image: 'm', ecs: { regionId: 'r', vSwitchId: 'v', securityGroupId: 's' } });
  const scaler = new Autoscaler({ providerFor: () => provider, clock: { now: Date.now } });
  await t.rejects(scaler.step({ spec, agents: [], pending: [{ slots: 1, count: 3 }] }), { name: 'ProviderAuthError' });
  t.equal(fake.ecs.instances.size, 0, 'nothing launched blind');
});
