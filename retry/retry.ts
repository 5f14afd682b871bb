/**
 * Runs an operation until it succeeds, fails in a way retrying cannot fix, or the policy's
 * attempts run out. Sleep and random are injectable so tests run without waiting.
 */
import { delayFor, type CompiledRetryPolicy } from './retry-policy.js';

export interface RetryOptions {
  /** Names what is tried, for the error when attempts run out ("OSS PutObject oss://b/k"). */
  operation: string;
  /** Whether another try may succeed; anything else is rethrown at once, unchanged. */
  isRetryable(err: unknown): boolean;
  /** Called (and awaited) before sleeping `delayMs` for try `attempt + 1`: log, fix the clock. */
  onRetry?(err: unknown, attempt: number, delayMs: number): void | Promise<void>;
  /** @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  /** [0, 1). @default Math.random */
  random?: () => number;
}

/** Every try failed in a retryable way; `lastError` (also the `cause`) is the final failure. */
export class RetriesExhaustedError extends Error {
  constructor(
    readonly operation: string,
    readonly attempts: number,
    /** Not always an Error: some SDKs throw plain objects, which their error mappers read. */
    readonly lastError: unknown,
  ) {
    super(`${operation} failed after ${attempts} attempts: ${lastError instanceof Error ? lastError.message : String(lastError)}`, { cause: lastError });
    this.name = 'RetriesExhaustedError';
  }
}

export const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `fn` receives the 1-based number of the try. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, policy: CompiledRetryPolicy, options: RetryOptions): Promise<T> {
  const sleep = options.sleep ?? sleepMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!options.isRetryable(err)) throw err;
      if (attempt >= policy.maximumAttempts) {
        throw new RetriesExhaustedError(options.operation, attempt, err);
      }
      const delayMs = delayFor(policy, attempt, options.random);
      await options.onRetry?.(err, attempt, delayMs);
      await sleep(delayMs);
    }
  }
}
