/**
 * Retry with exponential backoff and full jitter. ali-oss retries nothing but network errors
 * (and only with `retryMax`, a fixed 500 ms, never streams), so every OSS call goes through here.
 */
import { RetriesExhaustedError } from './errors.js';

export interface RetryPolicy {
  /** Total tries including the first. @default 5 */
  attempts: number;
  /** First backoff ceiling. @default 200 */
  baseDelayMs: number;
  /** Backoff ceiling. @default 10000 */
  maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 10_000 };

export function retryPolicy(partial: Partial<RetryPolicy> = {}): RetryPolicy {
  const p = { ...defaultRetryPolicy, ...partial };
  if (!Number.isInteger(p.attempts) || p.attempts < 1) throw new Error(`retry attempts must be an integer ≥ 1, got ${p.attempts}`);
  return p;
}

/** Full jitter: uniform in [0, min(max, base·2^(n-1))], so many clients do not retry in lockstep. */
export function backoffDelay(policy: RetryPolicy, failedAttempt: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failedAttempt - 1));
  return Math.random() * ceiling;
}

export interface RetryHooks {
  /** Decides whether an error is worth another try. */
  isRetryable(err: unknown): boolean;
  /** Called before sleeping for another try (e.g. to fix the clock or log). */
  beforeRetry?(err: unknown, attempt: number): Promise<void> | void;
}

/**
 * Run `fn` until it succeeds, a non-retryable error occurs (rethrown as is), or attempts run
 * out (RetriesExhaustedError wrapping the last error).
 */
export async function withRetries<T>(
  operation: string,
  policy: RetryPolicy,
  hooks: RetryHooks,
  fn: (attempt: number) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!hooks.isRetryable(err)) throw err;
      if (attempt >= policy.attempts) {
        throw new RetriesExhaustedError(operation, attempt, err instanceof Error ? err : new Error(String(err)));
      }
      await hooks.beforeRetry?.(err, attempt);
      await new Promise((r) => setTimeout(r, backoffDelay(policy, attempt)));
    }
  }
}
