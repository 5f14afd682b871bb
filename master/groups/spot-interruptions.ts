import type { InterruptDecision } from './scaling-state.js';
import type { Pairing } from './reconcile.js';

/**
 * Spot reclaim notices, from either side: the agent's spot watch (metadata termination-time) or
 * the provider (ECS OperationLocks Recycling). The machine stops counting as capacity (so the
 * group is topped up), the agent is drained, and running attempts that cannot finish before
 * the machine goes are requeued as *interrupted*, not failed. Attempts expected to finish in
 * time are left to finish.
 */
export function spotInterruptions(pairs: Pairing[], now: number, defaultNoticeMs = 5 * 60_000): InterruptDecision[] {
  const out: InterruptDecision[] = [];
  for (const { instance, agent } of pairs) {
    const noticed = instance.interrupted || !!agent?.spotTerminationTime;
    if (!noticed || !agent || agent.interrupted || agent.lost) continue;
    const parsed = agent.spotTerminationTime ? Date.parse(agent.spotTerminationTime) : NaN;
    const terminationAt = Number.isFinite(parsed) ? parsed : undefined;
    // Without a time (provider-side notice), ECS releases about 5 minutes after the lock.
    const deadline = terminationAt ?? now + defaultNoticeMs;
    // Keep a minute in hand for the upload and the result to reach the master.
    const safety = 60_000;
    const requeue = agent.running
      .filter((r) => r.expectedSeconds === undefined || r.startedAt + r.expectedSeconds * 1000 > deadline - safety)
      .map((r) => r.attemptId);
    out.push({
      agentId: agent.agentId,
      instanceId: instance.id,
      ...(terminationAt === undefined ? {} : { terminationAt }),
      requeue,
      reason: `instance ${instance.id} is being reclaimed (spot)${terminationAt ? ` at ${new Date(terminationAt).toISOString()}` : ''}: draining agent ${agent.agentId}, requeueing ${requeue.length} of ${agent.running.length} running task(s) as interrupted`,
    });
  }
  return out;
}
