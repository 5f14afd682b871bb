import type { GroupSpec } from '../../protocol/groups.js';
import { atBillingBoundary, paidSecondsLeft } from './billing.js';
import type { Pairing } from './reconcile.js';
import type { AgentDecision, TerminateDecision } from './scaling-state.js';

/**
 * Chooses which machines leave when the group shrinks, like Brenda's prune: machines that lose
 * no work first (not yet joined, then idle longest), then busy ones by least elapsed work on
 * their running tasks. Idle machines with paid time left are kept until the billing boundary;
 * busy victims are drained (no new work; released when idle), never killed mid-task.
 */
export interface VictimChoice {
  terminate: TerminateDecision[];
  drain: AgentDecision[];
  /** Machines that would have gone but were kept, and why. */
  kept: string[];
}

/** Slot-seconds of work already done by the running tasks (what killing the machine would lose). */
export function elapsedWorkSeconds(pair: Pairing, now: number): number {
  return (pair.agent?.running ?? []).reduce((sum, r) => sum + r.slots * Math.max(0, now - r.startedAt) / 1000, 0);
}

export function chooseVictims(spec: GroupSpec, candidates: Pairing[], excess: number, now: number): VictimChoice {
  const out: VictimChoice = { terminate: [], drain: [], kept: [] };
  if (excess <= 0) return out;
  const idleMs = spec.autoscale.idleSeconds * 1000;
  type Ranked = { pair: Pairing; tier: number; work: number; idleFor: number };
  const ranked: Ranked[] = candidates.map((pair) => {
    const agent = pair.agent;
    const busy = !!agent && agent.running.length > 0;
    const idleFor = agent && !busy ? now - (agent.idleSince ?? agent.lastSeen) : 0;
    // tier 0: not joined yet (nothing to lose); 1: idle; 2: busy.
    const tier = !agent ? 0 : busy ? 2 : 1;
    return { pair, tier, work: elapsedWorkSeconds(pair, now), idleFor };
  });
  ranked.sort((a, b) => a.tier - b.tier || a.work - b.work || b.idleFor - a.idleFor || b.pair.instance.launchedAt - a.pair.instance.launchedAt);
  for (const r of ranked) {
    if (out.terminate.length + out.drain.length >= excess) break;
    const { instance, agent } = r.pair;
    if (r.tier === 2) {
      out.drain.push({ agentId: agent!.agentId, instanceId: instance.id, reason: `scale in: draining ${instance.id} (busy, ${Math.round(r.work)} slot-seconds of running work, the least in the group); released when idle` });
      continue;
    }
    if (r.tier === 1 && r.idleFor < idleMs) {
      out.kept.push(`kept ${instance.id}: idle only ${Math.round(r.idleFor / 1000)}s of ${spec.autoscale.idleSeconds}s`);
      continue;
    }
    if (!atBillingBoundary(instance.launchedAt, now, spec.billing)) {
      out.kept.push(`kept ${instance.id}: ${Math.round(paidSecondsLeft(instance.launchedAt, now, spec.billing))}s already paid for`);
      continue;
    }
    out.terminate.push({ instanceId: instance.id, reason: r.tier === 0 ? `scale in: ${instance.id} has not joined yet (no work lost)` : `scale in: ${instance.id} idle ${Math.round(r.idleFor / 1000)}s` });
  }
  return out;
}
