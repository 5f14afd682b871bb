import type { Logger } from 'pino';
import type { AgentHeartbeat } from '../protocol/agent-messages.js';
import type { AgentSession } from './agent-session.js';
import type { Clock } from './clock.js';
import { HeartbeatPace } from './heartbeat-pace.js';

/**
 * How often a connected agent's hosts.last_seen is written (it is shown for hosts that left), and
 * with it the end of the host's last attempt (store/host-last-ends.ts).
 */
const LAST_SEEN_EVERY_MS = 30_000;
/** Agents told a new pace per turn of the loop: 20,000 frames at once would hold it ~200 ms. */
const PACE_SLICE = 500;

/**
 * Whether connected agents are alive, and when each host was last heard from. An agent sends a
 * heartbeat every heartbeatMs; three missed ones mean its connection is dead even if TCP has not
 * noticed (a VM that vanished sends no FIN). A connected agent's liveness is its session's; the
 * hosts.last_seen row is for after it left (or after a master restart), so it is written every
 * LAST_SEEN_EVERY_MS and when the agent leaves, in one batch a second: at each of 20,000 agents'
 * heartbeats it was 4,000 row writes a second, one stall of 40 ms every second. The interval
 * grows with the farm (heartbeat-pace.ts); agents connected before a change are told.
 */
export class HostLiveness {
  /** Agents whose hosts.last_seen is due. */
  private readonly due = new Set<string>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private lastSeenTimer: NodeJS.Timeout | undefined;
  private readonly pace: HeartbeatPace;
  /** Bumped at each pace change: a slow re-pacing stops when a newer one starts. */
  private paceGeneration = 0;

  constructor(
    private readonly store: { touchHosts(agentIds: Iterable<string>): void },
    private readonly sessions: { values(): Iterable<AgentSession>; readonly size: number },
    private readonly clock: Clock,
    private readonly log: Logger,
    heartbeat: { baseMs: number; perSecond: number },
  ) {
    this.pace = new HeartbeatPace(heartbeat.baseMs, heartbeat.perSecond);
  }

  /** The heartbeat interval agents are told now. */
  get heartbeatMs(): number {
    return this.pace.intervalMs;
  }

  /** A new agent: the interval for its welcome; the farm's may change with it. */
  joined(session: AgentSession): number {
    session.welcomedWith(this.pace.intervalMs);
    return this.pace.intervalMs;
  }

  /** After a join or a leave: a farm that grew or shrank enough gets a new interval, told to every agent. */
  farmChanged(): void {
    const next = this.pace.adjust(this.sessions.size);
    if (next === undefined) return;
    this.log.info({ agents: this.sessions.size, heartbeatMs: next }, 'heartbeat interval changed with the size of the farm');
    const generation = ++this.paceGeneration;
    const pending = [...this.sessions.values()];
    const tell = (from: number): void => {
      if (generation !== this.paceGeneration) return;
      for (const session of pending.slice(from, from + PACE_SLICE)) session.pace(next);
      if (from + PACE_SLICE < pending.length) setImmediate(tell, from + PACE_SLICE);
    };
    tell(0);
  }

  start(): void {
    this.sweepTimer = setInterval(() => this.dropSilentAgents(), this.pace.baseMs);
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
    const now = this.clock.now();
    for (const session of this.sessions.values()) {
      if (now - session.lastFrameAt > session.silenceLimitMs) {
        this.log.warn({ agent: session.hostname, silentMs: now - session.lastFrameAt }, 'agent missed 3 heartbeats; dropping its connection');
        session.ws.terminate();
      }
    }
  }
}
