/**
 * Exponential backoff with full jitter for calls to a cloud API. Only errors the caller marks
 * retryable are repeated; everything else is thrown at once, so a bad parameter fails fast.
 */
export interface RetryOptions {
  /** Total attempts including the first. @default 5 */
  attempts: number;
  /** Delay cap of the first retry; doubles each time. @default 200 */
  baseDelayMs: number;
  /** @default 10000 */
  maxDelayMs: number;
  sleep: (ms: number) => Promise<void>;
  /** [0,1); injected so tests can pin the jitter. */
  random: () => number;
}

export const defaultRetryOptions: RetryOptions = {
  attempts: 5,
  baseDelayMs: 200,
  maxDelayMs: 10_000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

/** The delay before retry number `retry` (1-based): uniform in [0, min(max, base·2^(retry-1))]. */
export function backoffDelayMs(retry: number, options: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs' | 'random'>): number {
  const cap = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(options.random() * cap);
}

export class RetriesExhausted extends Error {
  constructor(
    readonly attempts: number,
    readonly lastError: unknown,
  ) {
    super(`gave up after ${attempts} attempts: ${(lastError as Error)?.message ?? String(lastError)}`);
    this.name = 'RetriesExhausted';
  }
}

/** Runs `fn` until it succeeds, a non-retryable error is thrown, or attempts run out. */
export async function withRetries<T>(
  fn: (attempt: number) => Promise<T>,
  isRetryable: (err: unknown) => boolean,
  options: RetryOptions = defaultRetryOptions,
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isRetryable(err)) throw err;
      if (attempt >= options.attempts) throw new RetriesExhausted(attempt, err);
      const delay = backoffDelayMs(attempt, options);
      onRetry?.(err, attempt, delay);
      await options.sleep(delay);
    }
  }
}
