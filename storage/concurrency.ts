/**
 * Bounded parallelism over a (possibly paged, async) source: at most `limit` calls of `fn` run
 * at once; items are pulled from the source only as slots free up, so a listing of 100,000
 * keys is never held in memory at once. The first failure stops new work, waits for the calls
 * in flight to settle (nothing left running behind the caller's back) and rejects with it.
 */
export async function forEachConcurrent<T>(
  source: AsyncIterable<T> | Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`concurrency limit must be an integer ≥ 1, got ${limit}`);
  const it: AsyncIterator<T> | Iterator<T> =
    Symbol.asyncIterator in source ? (source as AsyncIterable<T>)[Symbol.asyncIterator]() : (source as Iterable<T>)[Symbol.iterator]();
  let failed: { error: unknown } | undefined;
  let sourceDone = false;
  // Pulling from an async iterator must be serialised: one next() at a time.
  let pulling: Promise<IteratorResult<T>> = Promise.resolve({ done: false, value: undefined as T });
  const next = (): Promise<IteratorResult<T>> => {
    pulling = pulling.then(() => (sourceDone ? { done: true as const, value: undefined } : it.next()));
    return pulling;
  };
  const worker = async (): Promise<void> => {
    while (!failed) {
      let r: IteratorResult<T>;
      try {
        r = await next();
      } catch (error) {
        failed ??= { error };
        return;
      }
      if (r.done) {
        sourceDone = true;
        return;
      }
      if (failed) return; // a sibling failed while we waited for the item
      try {
        await fn(r.value);
      } catch (error) {
        failed ??= { error };
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  if (failed) {
    await (it as AsyncIterator<T>).return?.();
    throw failed.error;
  }
}
