import { AttemptState } from './states.js';
import type { ActiveAttemptRow, AttemptReader } from './store/attempt-reader.js';

/** What an agent's hello does to the leases the master holds for it. */
export interface ReattachPlan {
  /** Leased to the agent and still on it: they stay leased to the new connection. */
  kept: ActiveAttemptRow[];
  /** Leased to the agent but no longer on it (it restarted): requeued. */
  forgotten: string[];
  /** On the agent but given up on by the master, or another agent's: the agent kills them and drops their results. */
  cancel: string[];
}

/** Attempt states an agent may still hold: running ones, and finished ones whose result it may replay. */
const HOLDABLE: ReadonlySet<string> = new Set([AttemptState.Leased, AttemptState.Running, AttemptState.Done, AttemptState.Failed]);

/** Compares the attempts an agent's hello lists with the leases the store holds for it. */
export function planReattach(attempts: AttemptReader, agentId: string, claimedIds: readonly string[]): ReattachPlan {
  const leased = attempts.activeOf(agentId);
  const claimed = new Set(claimedIds);
  const cancel: string[] = [];
  for (const id of claimed) {
    const row = attempts.holder(id);
    // Another agent's attempt is not this agent's to report on: cancelled here, untouched there.
    if (row && row.agent_id !== agentId) {
      cancel.push(id);
      continue;
    }
    // A done attempt is not cancelled: the agent may be replaying its result, which is acked.
    if (!row || !HOLDABLE.has(row.state)) cancel.push(id);
  }
  return {
    kept: leased.filter((a) => claimed.has(a.id)),
    forgotten: leased.filter((a) => !claimed.has(a.id)).map((a) => a.id),
    cancel,
  };
}
