import t from 'tap';
import * as path from 'node:path';
import { existsSync } from 'node:fs';
import { compileGroupSpec } from '../../protocol/groups.js';
import type { HostsResponse, QstatResponse } from '../../protocol/api.js';
import { Autoscaler } from '../../master/groups/autoscaler.js';
import type { AgentView, PendingWork } from '../../master/groups/scaling-state.js';
import { LocalProvider } from '../../master/providers/local-provider.js';
import { ROOT, TestFarm } from '../helpers/farm.js';

/**
 * The embedded default, end to end, before the master wires the autoscaler in: a real master,
 * an array job, and the autoscaler with the local provider starting real agents that join and
 * run the tasks, then removing them once idle. The test plays the master's part of building
 * the autoscaler's input from the HTTP API (see master/groups/autoscale-loop.ts for the real thing).
 */
const AGENT_MAIN = path.join(ROOT, 'dist', 'agent', 'main.js');

function taskCount(tasks: string): number {
  if (tasks === '') return 1;
  return tasks.split(',').reduce((n, part) => {
    const m = /^(\d+)-(\d+):(\d+)$/.exec(part);
    return n + (m ? Math.floor((Number(m[2]) - Number(m[1])) / Number(m[3])) + 1 : 1);
  }, 0);
}

t.test('queue surge starts local agents, drain stops them', { skip: existsSync(AGENT_MAIN) ? false : 'dist/ missing: npm run build' }, async (t) => {
  const farm = await TestFarm.start(t);
  const provider = new LocalProvider({
    masterUrl: farm.url,
    agentToken: farm.token('agent'),
    agentMain: AGENT_MAIN,
    stateRoot: path.join(farm.home, 'local-agents'),
    killGraceMs: 5000,
    env: farm.env,
  });
  t.teardown(() => provider.close());
  const spec = compileGroupSpec({
    name: 'default',
    provider: 'local',
    maxSize: 3,
    slotsPerInstance: 1,
    autoscale: { scaleOutCooldownSeconds: 0, scaleInCooldownSeconds: 0, idleSeconds: 1, joinDeadlineSeconds: 60 },
  });
  const scaler = new Autoscaler({ providerFor: () => provider, clock: { now: Date.now } });
  const idleSince = new Map<string, number>();

  const input = async (): Promise<{ agents: AgentView[]; pending: PendingWork[] }> => {
    const q = (await farm.api('GET', '/jobs')) as QstatResponse;
    const pending = q.rows.filter((r) => r.state === 'qw').map((r) => ({ slots: r.slots, count: taskCount(r.tasks) }));
    const hosts = (await farm.api('GET', '/hosts')) as HostsResponse;
    const now = Date.now();
    const agents = hosts.hosts
      .filter((h) => h.group === 'default')
      .map((h): AgentView => {
        if (h.slotsUsed > 0) idleSince.delete(h.hostname);
        else if (!idleSince.has(h.hostname)) idleSince.set(h.hostname, now);
        return {
          agentId: h.hostname,
          ...(h.labels['qfarm.instance-id'] ? { instanceId: h.labels['qfarm.instance-id'] } : {}),
          slots: h.slots,
          connected: h.state === 'online',
          lastSeen: h.lastSeen,
          running: Array.from({ length: h.slotsUsed }, (_, k) => ({ attemptId: `${h.hostname}-${k}`, startedAt: now, slots: 1 })),
          ...(h.slotsUsed === 0 ? { idleSince: idleSince.get(h.hostname)! } : {}),
          draining: false,
        };
      });
    return { agents, pending };
  };

  const jobId = await farm.submit(['-t', '1-6', '-b', 'y', 'sleep', '1']);
  const first = await scaler.step({ spec, ...(await input()) });
  t.equal(first.plan.desired, 3, '6 queued one-slot tasks, max 3 machines');
  t.equal(first.launched.length, 3);
  await farm.waitFor(async () => (await farm.hostState('default-3')) === 'online', 20_000, 'the three local agents to join');
  const second = await scaler.step({ spec, ...(await input()) });
  t.equal(second.launched.length, 0, 'no double launch while they work');
  await farm.waitForJob(jobId, 30_000);

  // Drain: every agent idle for more than idleSeconds → all stopped.
  await farm.waitFor(async () => {
    const r = await scaler.step({ spec, ...(await input()) });
    return r.terminated.length > 0 || (await provider.list(spec)).length === 0;
  }, 20_000, 'the idle agents to be released');
  t.same(await provider.list(spec), [], 'no agent processes left');
  const hosts = (await farm.api('GET', '/hosts')) as HostsResponse;
  await farm.waitFor(async () => ((await farm.api('GET', '/hosts')) as HostsResponse).hosts.every((h) => h.state !== 'online'), 10_000, 'hosts offline');
  t.equal(hosts.hosts.length, 3);
});
