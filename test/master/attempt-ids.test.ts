import t from 'tap';
import { newAttemptId } from '../../master/store/attempt-ids.js';

/** Attempt ids: UUIDs of version 7, so that ids made later sort later (one index page per lease, not a random one). */
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('an attempt id is a version 7 UUID carrying its creation time', (t) => {
  const at = Date.UTC(2026, 10, 30, 9, 0, 0);
  const id = newAttemptId(at);
  t.match(id, UUID_V7);
  t.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), at, 'the first 48 bits are the milliseconds');
  t.end();
});

t.test('ids made later sort later; ids made in the same millisecond still differ', (t) => {
  const ids = [1_000, 1_001, 60_000, Date.now()].map((ms) => newAttemptId(ms));
  t.same([...ids].sort(), ids, 'text order is time order');
  const same = new Set(Array.from({ length: 10_000 }, () => newAttemptId(5_000)));
  t.equal(same.size, 10_000, '74 random bits tell apart ids of one millisecond');
  t.end();
});

t.test('a clock outside the 48 bits of milliseconds still gives a well-formed id', (t) => {
  for (const ms of [-1, 2 ** 50, 0.5]) t.match(newAttemptId(ms), UUID_V7, String(ms));
  t.end();
});
