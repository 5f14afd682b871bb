import type { AgentSession } from './agent-session.js';
import { attemptReader, type AttemptReader } from './store/attempt-reader.js';
import type { Db } from './store/database.js';

/**
 * Whose attempt is it? Every frame naming an attempt is believed only from the agent the
 * attempt was leased to. An attempt keeps its agent for life (rows are never reassigned), so a
 * replay of an agent's own, long-committed attempt still passes and is acknowledged as moot,
 * while another agent's attempt (or an id the master never made) is refused.
 */
export class AttemptOwnership {
  private readonly attempts: AttemptReader;

  constructor(db: Db) {
    this.attempts = attemptReader(db);
  }

  /** The attempt's agent id, or undefined for an id the master never made. */
  owner(attemptId: string): string | undefined {
    return this.attempts.owner(attemptId);
  }

  /** True when `attemptId` was leased to this session's agent (now or in the past). */
  isOwnedBy(session: AgentSession, attemptId: string): boolean {
    // In-memory first: the hot path (output chunks of running attempts) needs no query.
    if (session.attempts.has(attemptId)) return true;
    return this.owner(attemptId) === session.agentId;
  }
}
