import t from 'tap';
import { retry, RetriesExhaustedError } from '../../retry/retry.js';
import { compileRetryPolicy } from '../../retry/retry-policy.js';

const policy = compileRetryPolicy({ maximumAttempts: 4, initialIntervalMs: 100, maximumIntervalMs: 250 });

/** Sleeps recorded instead of waited. */
function recordingSleep(): { sleep: (ms: number) => Promise<void>; slept: number[] } {
  const slept: number[] = [];
  return { slept, sleep: async (ms) => void slept.push(ms) };
}

t.test('a retryable failure is tried again after the policy\'s delays, until it succeeds', async (t) => {
  const { sleep, slept } = recordingSleep();
  const seen: [string, number, number][] = [];
  let calls = 0;
  const value = await retry(
    async (attempt) => {
      calls++;
      if (attempt < 3) throw new Error(`flaky ${attempt}`);
      return 'done';
    },
    policy,
    { operation: 'fetch x', isRetryable: () => true, sleep, random: () => 0.999, onRetry: (err, attempt, delay) => void seen.push([(err as Error).message, attempt, delay]) },
  );
  t.equal(value, 'done');
  t.equal(calls, 3);
  t.same(slept, [99, 199], 'slept the delay of each retry');
  t.same(seen, [['flaky 1', 1, 99], ['flaky 2', 2, 199]], 'onRetry hears the error, the failed try and the delay');
});

t.test('when attempts run out, RetriesExhaustedError names the operation and keeps the last error', async (t) => {
  const { sleep, slept } = recordingSleep();
  let calls = 0;
  const last = new Error('503 again');
  const err = await retry(async () => { calls++; throw last; }, policy, { operation: 'OSS PutObject oss://b/k', isRetryable: () => true, sleep, random: () => 0.999 }).catch((e: unknown) => e);
  t.equal(calls, 4, 'maximumAttempts tries in all');
  t.same(slept, [99, 199, 249], 'a sleep between tries, none after the last');
  t.type(err, RetriesExhaustedError);
  t.match(err, { name: 'RetriesExhaustedError', operation: 'OSS PutObject oss://b/k', attempts: 4, lastError: last, cause: last, message: 'OSS PutObject oss://b/k failed after 4 attempts: 503 again' });
});

t.test('a plain object thrown (some SDKs do) is kept as is for their error mappers', async (t) => {
  const thrown = { statusCode: 502, result: { Code: 'BadGateway' } };
  const err = await retry(async () => { throw thrown; }, compileRetryPolicy({ maximumAttempts: 1 }), { operation: 'ecs DescribeInstances', isRetryable: () => true }).catch((e: unknown) => e);
  t.equal((err as RetriesExhaustedError).lastError, thrown);
  t.match((err as Error).message, /ecs DescribeInstances failed after 1 attempts: \[object Object\]/);
});

t.test('an error that is not retryable is rethrown unchanged at once', async (t) => {
  const { sleep, slept } = recordingSleep();
  let calls = 0;
  const denied = new Error('AccessDenied');
  await t.rejects(retry(async () => { calls++; throw denied; }, policy, { operation: 'x', isRetryable: (e) => e !== denied, sleep }), denied);
  t.equal(calls, 1);
  t.same(slept, []);
});

t.test('an async onRetry is awaited before the next try (the OSS clock fix must land first)', async (t) => {
  const order: string[] = [];
  await retry(
    async (attempt) => {
      order.push(`try ${attempt}`);
      if (attempt === 1) throw new Error('skewed');
    },
    policy,
    { operation: 'x', isRetryable: () => true, sleep: async () => void order.push('sleep'), onRetry: async () => { await new Promise((r) => setImmediate(r)); order.push('fixed clock'); } },
  );
  t.same(order, ['try 1', 'fixed clock', 'sleep', 'try 2']);
});
