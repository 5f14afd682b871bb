import { longTimeout } from './long-timer.js';

/**
 * Time source and timers of the agent; injected so limits, deadlines and caches can be tested
 * with a fake clock instead of waiting. (master/clock.ts is the master's: the agent may not
 * import master/.)
 */
export interface AgentClock {
  now(): number;
  /** Calls fn once after delayMs, however long (an h_rt of 30 days); returns a cancel function. */
  setTimeout(fn: () => void, delayMs: number): () => void;
  /** Calls fn every intervalMs until cancelled; returns the cancel function. */
  setInterval(fn: () => void, intervalMs: number): () => void;
}

export const systemClock: AgentClock = {
  now: () => Date.now(),
  setTimeout: longTimeout,
  setInterval: (fn, intervalMs) => {
    const timer = setInterval(fn, intervalMs);
    return () => clearInterval(timer);
  },
};

/** Resolves after ms on the given clock. */
export function sleep(clock: AgentClock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
