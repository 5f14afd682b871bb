import t from 'tap';
import { compileRetryPolicy, DEFAULT_RETRY_POLICY, delayFor, RetryPolicyError } from '../../retry/retry-policy.js';

t.test('compileRetryPolicy fills every field left out with its default', async (t) => {
  t.same(compileRetryPolicy(), DEFAULT_RETRY_POLICY);
  t.same(compileRetryPolicy({ maximumAttempts: 3, maximumIntervalMs: undefined }), { ...DEFAULT_RETRY_POLICY, maximumAttempts: 3 });
  t.ok(Object.isFrozen(compileRetryPolicy({ jitter: 0 })), 'a compiled policy cannot be changed afterwards');
  t.equal(compileRetryPolicy({ maximumAttempts: Infinity }).maximumAttempts, Infinity, 'Infinity retries until stopped');
});

t.test('compileRetryPolicy refuses a value that cannot work, naming field, value and range', async (t) => {
  t.throws(() => compileRetryPolicy({ maximumAttempts: 0 }), new RetryPolicyError('maximumAttempts', 0, 'an integer ≥ 1 or Infinity'));
  t.throws(() => compileRetryPolicy({ maximumAttempts: 2.5 }), { name: 'RetryPolicyError', field: 'maximumAttempts', message: /got 2\.5/ });
  t.throws(() => compileRetryPolicy({ initialIntervalMs: -1 }), { field: 'initialIntervalMs' });
  t.throws(() => compileRetryPolicy({ maximumIntervalMs: NaN }), { field: 'maximumIntervalMs' });
  t.throws(() => compileRetryPolicy({ backoffCoefficient: 0.5 }), { field: 'backoffCoefficient', message: /must be a finite number ≥ 1, got 0\.5/ });
  t.throws(() => compileRetryPolicy({ jitter: 1.5 }), { field: 'jitter', message: /between 0 and 1/ });
});

t.test('delayFor: exponential caps, bounded by the maximum, placed by the jitter', async (t) => {
  const full = compileRetryPolicy({ initialIntervalMs: 100, maximumIntervalMs: 250 });
  t.same([1, 2, 3, 4].map((n) => delayFor(full, n, () => 0.999)), [99, 199, 249, 249], 'full jitter just under each cap');
  t.same([1, 2, 3].map((n) => delayFor(full, n, () => 0)), [0, 0, 0], 'full jitter may retry at once');

  const half = compileRetryPolicy({ initialIntervalMs: 100, maximumIntervalMs: 5000, jitter: 0.5 });
  t.same([1, 2, 3, 7, 30].map((n) => delayFor(half, n, () => 0)), [50, 100, 200, 2500, 2500], 'half jitter: never below half the cap');
  t.same([1, 2, 3, 7, 30].map((n) => delayFor(half, n, () => 0.999)), [99, 199, 399, 4997, 4997]);

  const none = compileRetryPolicy({ initialIntervalMs: 10, backoffCoefficient: 3, maximumIntervalMs: 1000, jitter: 0 });
  t.same([1, 2, 3, 4, 5].map((n) => delayFor(none, n, () => 0.5)), [10, 30, 90, 270, 810], 'no jitter: the cap itself, any coefficient');

  const tinyMaximum = compileRetryPolicy({ initialIntervalMs: 100, maximumIntervalMs: 10, jitter: 0 });
  t.equal(delayFor(tinyMaximum, 1), 10, 'a maximum below the initial interval caps the first delay too');
  t.equal(delayFor(full, 10_000, () => 0.5), 125, 'a huge retry number stays finite and capped');
});
