import type { Logger } from 'pino';
import type { AttemptReader } from './store/attempt-reader.js';
import type { Transitions } from './store/transitions.js';

/**
 * Leases of a disconnected agent outlive its connection for a grace period: an agent that
 * reconnects in time reattaches its running tasks (master/reattach.ts); past the period its
 * tasks go back to the queue. One timer per agent, started when its connection drops.
 */
export class LeaseGrace {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly attempts: AttemptReader,
    private readonly transitions: Transitions,
    private readonly log: Logger,
    private readonly graceMs: number,
    /** A connected agent keeps its leases whatever its timer says. */
    private readonly isConnected: (agentId: string) => boolean,
  ) {}

  /** Starts (or restarts) the agent's grace period. */
  start(agentId: string, hostname: string): void {
    const existing = this.timers.get(agentId);
    if (existing) clearTimeout(existing);
    const timer = setTimeout(() => {
      this.timers.delete(agentId);
      if (this.isConnected(agentId)) return;
      const ids = this.attempts.activeOf(agentId).map((a) => a.id);
      const seconds = Math.round(this.graceMs / 1000);
      const n = this.transitions.requeueAttempts(ids, `host ${hostname} lost: no contact for ${seconds}s`);
      if (n > 0) this.log.warn({ agent: hostname, requeued: n }, 'host lost; its tasks were requeued');
    }, this.graceMs);
    timer.unref();
    this.timers.set(agentId, timer);
  }

  /** The agent is back: its leases are its again. */
  end(agentId: string): void {
    clearTimeout(this.timers.get(agentId));
    this.timers.delete(agentId);
  }

  /** After a master restart every lease belongs to an agent that has not reconnected yet. */
  startForEveryLeaseHolder(): void {
    for (const row of this.attempts.leaseHolders()) this.start(row.agent_id, row.hostname);
  }

  close(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
  }
}
