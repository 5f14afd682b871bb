/**
 * How often and how long to wait before trying again: one policy type for every retry in qfarm
 * (cloud API calls of the master's providers, OSS requests of storage/, the agent's redial).
 * Written partially by a caller, compiled once into a validated, defaulted policy, after the
 * model of Temporal's `compileRetryPolicy`.
 */

export interface RetryPolicy {
  /** Cap of the delay before the first retry, in ms. @default 200 */
  initialIntervalMs: number;
  /** Each retry's cap is the previous one's times this. @default 2 */
  backoffCoefficient: number;
  /**
   * No delay is longer, in ms. It may be below `initialIntervalMs` (then every delay is capped
   * by it, as the agent's `--reconnect-max-ms 10` asks). @default 10000
   */
  maximumIntervalMs: number;
  /** Tries including the first; `Infinity` tries until told to stop. @default 5 */
  maximumAttempts: number;
  /**
   * The random share of each delay: 1 draws it uniformly from [0, cap] ("full jitter", so many
   * clients do not retry in lockstep), 0.5 from [cap/2, cap], 0 waits exactly the cap. @default 1
   */
  jitter: number;
}

declare const compiled: unique symbol;
/** A policy that went through compileRetryPolicy: complete and valid. */
export type CompiledRetryPolicy = Readonly<RetryPolicy> & { readonly [compiled]: true };

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  initialIntervalMs: 200,
  backoffCoefficient: 2,
  maximumIntervalMs: 10_000,
  maximumAttempts: 5,
  jitter: 1,
});

/** A retry policy field with a value that cannot work; names the field, the value and the range. */
export class RetryPolicyError extends Error {
  constructor(
    readonly field: keyof RetryPolicy,
    readonly value: unknown,
    expected: string,
  ) {
    super(`retry policy ${field} must be ${expected}, got ${String(value)}`);
    this.name = 'RetryPolicyError';
  }
}

/** Fills defaults and validates once; the result is frozen. */
export function compileRetryPolicy(partial: Partial<RetryPolicy> = {}): CompiledRetryPolicy {
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY };
  for (const [field, value] of Object.entries(partial) as [keyof RetryPolicy, number | undefined][]) {
    if (value !== undefined) policy[field] = value;
  }
  const check = (field: keyof RetryPolicy, ok: (v: number) => boolean, expected: string) => {
    if (typeof policy[field] !== 'number' || !ok(policy[field])) throw new RetryPolicyError(field, policy[field], expected);
  };
  check('initialIntervalMs', (v) => Number.isFinite(v) && v >= 0, 'a finite number of ms ≥ 0');
  check('backoffCoefficient', (v) => Number.isFinite(v) && v >= 1, 'a finite number ≥ 1');
  check('maximumIntervalMs', (v) => Number.isFinite(v) && v >= 0, 'a finite number of ms ≥ 0');
  check('maximumAttempts', (v) => v === Infinity || (Number.isInteger(v) && v >= 1), 'an integer ≥ 1 or Infinity');
  check('jitter', (v) => v >= 0 && v <= 1, 'between 0 and 1');
  return Object.freeze(policy) as CompiledRetryPolicy;
}

/**
 * The delay in whole ms before retry number `retry` (1-based: 1 follows the first failure).
 * Its cap is min(maximumInterval, initialInterval · coefficient^(retry−1)); `random` ∈ [0, 1)
 * places it inside the jitter's share of that cap. Pure, for loops that cannot use `retry()`.
 */
export function delayFor(policy: CompiledRetryPolicy, retry: number, random: () => number = Math.random): number {
  // Past 2^64 the product is the maximum anyway; the bound keeps it finite for any coefficient.
  const growth = policy.backoffCoefficient ** Math.min(Math.max(0, retry - 1), 64);
  const cap = Math.min(policy.maximumIntervalMs, policy.initialIntervalMs * growth);
  return Math.floor(cap * (1 - policy.jitter) + cap * policy.jitter * random());
}
