import type { AgentClock } from '../../agent/clock.js';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  every: number | undefined;
}

/**
 * A clock that moves only when told: `advance(ms)` runs every timer due in that span, in time
 * order, with `now()` reading each timer's own due time. Tests of waiting code take no wall time.
 */
export class FakeClock implements AgentClock {
  private timers: Timer[] = [];
  private seq = 0;

  constructor(private t = 1_800_000_000_000) {}

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, delayMs: number): () => void {
    return this.add(fn, delayMs, undefined);
  }

  setInterval(fn: () => void, intervalMs: number): () => void {
    return this.add(fn, intervalMs, intervalMs);
  }

  /** Timers still waiting (cancelled and fired one-shot timers are gone). */
  get pending(): number {
    return this.timers.length;
  }

  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      const next = this.timers.reduce<Timer | undefined>((a, b) => (a === undefined || b.at < a.at || (b.at === a.at && b.seq < a.seq) ? b : a), undefined);
      if (next === undefined || next.at > until) break;
      this.t = next.at;
      if (next.every === undefined) this.timers = this.timers.filter((timer) => timer !== next);
      else next.at += next.every;
      next.fn();
    }
    this.t = until;
  }

  private add(fn: () => void, delayMs: number, every: number | undefined): () => void {
    const timer: Timer = { at: this.t + Math.max(0, delayMs), seq: this.seq++, fn, every: every === undefined ? undefined : Math.max(1, every) };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }
}
