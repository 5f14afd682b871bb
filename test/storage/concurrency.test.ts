import t from 'tap';
import { forEachConcurrent } from '../../storage/concurrency.js';

t.test('never more than `limit` at once, every item once, pulls lazily from an async source', async (t) => {
  let running = 0;
  let peak = 0;
  const seen: number[] = [];
  let pulled = 0;
  async function* source() {
    for (let i = 0; i < 50; i++) {
      pulled++;
      yield i;
    }
  }
  await forEachConcurrent(source(), 4, async (i) => {
    running++;
    peak = Math.max(peak, running);
    t.ok(pulled - seen.length <= 4 + 1, 'the source is not drained ahead of the workers');
    await new Promise((r) => setImmediate(r));
    seen.push(i);
    running--;
  });
  t.equal(peak, 4);
  t.same([...seen].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
});

t.test('the first failure rejects after the calls in flight settle; no new work starts', async (t) => {
  const started: number[] = [];
  let settled = 0;
  const err = await forEachConcurrent(Array.from({ length: 100 }, (_, i) => i), 3, async (i) => {
    started.push(i);
    await new Promise((r) => setTimeout(r, 5));
    settled++;
    if (i === 4) throw new Error('item 4 failed');
  }).catch((e: unknown) => e);
  t.match(err, { message: 'item 4 failed' });
  t.equal(settled, started.length, 'nothing left running when it rejects');
  t.ok(started.length < 10, `stopped early (${started.length} started)`);
  await t.rejects(forEachConcurrent([1], 0, async () => undefined), /limit must be an integer/);
});
