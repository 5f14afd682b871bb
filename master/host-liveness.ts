import type { Logger } from 'pino';
import type { AgentHeartbeat } from '../protocol/agent-messages.js';
import type { AgentSession } from './agent-session.js';
import type { Clock } from './clock.js';

/** How often a connected agent's hosts.last_seen is written (it is shown for hosts that left). */
const LAST_SEEN_EVERY_MS = 30_000;

/**
 * Whether connected agents are alive, and when each host was last heard from. An agent sends a
 * heartbeat every heartbeatMs; three missed ones mean its connection is dead even if TCP has not
 * noticed (a VM that vanished sends no FIN). A connected agent's liveness is its session's; the
 * hosts.last_seen row is for after it left (or after a master restart), so it is written every
 * LAST_SEEN_EVERY_MS and when the agent leaves, in one batch a second: at each of 20,000 agents'
 * heartbeats it was 4,000 row writes a second, one stall of 40 ms every second.
 */
export class HostLiveness {
  /** Agents whose hosts.last_seen is due. */
  private readonly due = new Set<string>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private lastSeenTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: { touchHosts(agentIds: Iterable<string>): void },
    private readonly sessions: () => Iterable<AgentSession>,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly heartbeatMs: number,
  ) {}

  start(): void {
    this.sweepTimer = setInterval(() => this.dropSilentAgents(), this.heartbeatMs);
    this.sweepTimer.unref();
    this.lastSeenTimer = setInterval(() => this.flushLastSeen(), 1000);
    this.lastSeenTimer.unref();
  }

  /** A heartbeat (it writes nothing now: the hub handles it without a store turn). */
  heard(session: AgentSession, heartbeat: AgentHeartbeat): void {
    session.load1 = heartbeat.load1;
    session.memUsedBytes = heartbeat.memUsedBytes;
    session.swapUsedBytes = heartbeat.swapUsedBytes;
    if (session.lastFrameAt - session.lastSeenStoredAt >= LAST_SEEN_EVERY_MS) {
      session.lastSeenStoredAt = session.lastFrameAt;
      this.due.add(session.agentId);
    }
  }

  /** The agent disconnected: its last_seen is now, not up to LAST_SEEN_EVERY_MS ago. */
  left(agentId: string): void {
    this.due.add(agentId);
  }

  /** At the master's stop: the timers end and what is due is written. */
  stop(): void {
    clearInterval(this.sweepTimer);
    clearInterval(this.lastSeenTimer);
    this.flushLastSeen();
  }

  private flushLastSeen(): void {
    if (this.due.size === 0) return;
    try {
      this.store.touchHosts(this.due);
    } catch (err) {
      this.log.error({ err, agents: this.due.size }, 'could not record heartbeats in hosts.last_seen; retrying in a second');
      return;
    }
    this.due.clear();
  }

  private dropSilentAgents(): void {
    const deadline = this.clock.now() - 3 * this.heartbeatMs;
    for (const session of this.sessions()) {
      if (session.lastFrameAt < deadline) {
        this.log.warn({ agent: session.hostname }, 'agent missed 3 heartbeats; dropping its connection');
        session.ws.terminate();
      }
    }
  }
}
