import { HEARTBEAT_MS_MAX } from '../protocol/agent-messages.js';

/**
 * Heartbeats a second a master takes by default. bench:agents with 19,900 agents on a 2-core VM:
 * each costs the master ~40 µs (a socket read, a WebSocket frame, a parse, and every other one a
 * pong): 3,980 a second idled it at 12–18 % of a core, 1,913 at 10–11 %, 213 at 3 %.
 */
export const DEFAULT_HEARTBEATS_PER_SECOND = 1_000;

/** A change of the interval smaller than this factor is not worth telling every agent. */
const STEP = 1.2;

/**
 * How often agents heartbeat. Each heartbeat costs the master a read, a frame to parse and a
 * pong to write, whether anything happens or not. The interval is the configured one until the
 * farm is so large that its heartbeats would exceed `perSecond`; then it grows with the farm
 * (SGE's load_report_time, chosen for the admin), so a vanished host is noticed after three
 * intervals: 15 s at the default 5 s, about a minute at 20,000 agents (SGE: 5 minutes). It moves in steps of at least a
 * fifth, and a step lands a fifth beyond what the farm needs, so a farm growing by one agent at
 * a time does not re-pace every agent at each join.
 */
export class HeartbeatPace {
  private current: number;

  constructor(
    readonly baseMs: number,
    readonly perSecond: number,
  ) {
    this.current = baseMs;
  }

  get intervalMs(): number {
    return this.current;
  }

  /** The new interval for a farm of `agents` agents, or undefined when the current one stands. */
  adjust(agents: number): number | undefined {
    const needed = Math.max(this.baseMs, Math.ceil((agents * 1000) / this.perSecond));
    const next =
      needed === this.baseMs
        ? this.baseMs
        : needed >= this.current * STEP || needed <= this.current / STEP
          ? Math.min(HEARTBEAT_MS_MAX, Math.ceil((needed * STEP) / 100) * 100)
          : this.current;
    if (next === this.current) return undefined;
    this.current = next;
    return next;
  }
}
