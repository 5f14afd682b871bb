import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** How far back `/metrics` looks: the last 5 to 10 minutes (two windows, the older dropped in turn). */
export const REFILL_WINDOW_MS = 5 * 60_000;

export interface RefillSummary {
  count: number;
  /** Seconds. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  sum: number;
}

/**
 * How long a slot freed by a result stays empty while work is queued, measured inside the
 * master: from the `finished` frame's arrival to the next assignment written to that host.
 * Counted only when the scheduling passes after the result fill the slot: a pass that ends
 * without giving the host anything (nothing queued fits it) ends its wait uncounted. A host's
 * first waiting result is timed; one with several slots freed at once counts once.
 *
 * "Arrival" is when the master's event loop reads the frame: the time a frame waits in its socket
 * while the master finishes the turn it is in is not counted here (Node cannot see when the bytes
 * came). bench:agents measures the whole refill from its simulated agents, which includes that
 * wait and their own event loop (2,000 agents in one process, on the master's 2 cores).
 */
export class RefillLatency {
  /** Hosts (agent ids) with a result not yet followed by an assignment: since when, and whether the result is handled. */
  private readonly waiting = new Map<string, { since: number; handled: boolean }>();
  private current: RecordableHistogram = createHistogram();
  private previous: RecordableHistogram = createHistogram();
  private windowStartedAt: number;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.windowStartedAt = now();
  }

  /** A result frame arrived from the host (it waits in the turn's queue). */
  resultArrived(agentId: string): void {
    if (!this.waiting.has(agentId)) this.waiting.set(agentId, { since: this.now(), handled: false });
  }

  /** The host's result was handled: a pass from now on may fill its slot, or find nothing for it. */
  resultHandled(agentId: string): void {
    const wait = this.waiting.get(agentId);
    if (wait) wait.handled = true;
  }

  /** An assignment was written to the host. */
  assigned(agentId: string): void {
    const wait = this.waiting.get(agentId);
    if (wait === undefined) return;
    this.waiting.delete(agentId);
    this.rotate();
    // The histogram records integers ≥ 1: microseconds.
    this.current.record(Math.max(1, Math.round((this.now() - wait.since) * 1000)));
  }

  /**
   * A pass placed all it could: hosts whose result it saw and that it gave nothing have no work
   * waiting for them. (Results still queued behind the pass keep waiting for the next.)
   */
  passEnded(leasedTo: ReadonlySet<string>): void {
    for (const [agentId, wait] of this.waiting) if (wait.handled && !leasedTo.has(agentId)) this.waiting.delete(agentId);
  }

  /** The host disconnected. */
  left(agentId: string): void {
    this.waiting.delete(agentId);
  }

  /** The last 5 to 10 minutes, in seconds. */
  summary(): RefillSummary {
    this.rotate();
    const both = createHistogram();
    both.add(this.previous);
    both.add(this.current);
    const seconds = (us: number): number => us / 1e6;
    if (both.count === 0) return { count: 0, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, max: Number.NaN, sum: 0 };
    return {
      count: both.count,
      p50: seconds(both.percentile(50)),
      p90: seconds(both.percentile(90)),
      p99: seconds(both.percentile(99)),
      max: seconds(both.max),
      sum: seconds(both.mean * both.count),
    };
  }

  /** Forgets what was measured (a benchmark's phase starts). */
  reset(): void {
    this.current = createHistogram();
    this.previous = createHistogram();
    this.windowStartedAt = this.now();
  }

  private rotate(): void {
    const now = this.now();
    if (now - this.windowStartedAt < REFILL_WINDOW_MS) return;
    // Two windows or more gone: nothing of it is within the last 10 minutes.
    this.previous = now - this.windowStartedAt < 2 * REFILL_WINDOW_MS ? this.current : createHistogram();
    this.current = createHistogram();
    this.windowStartedAt = now;
  }
}
