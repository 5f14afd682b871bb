import t from 'tap';
import { REFILL_WINDOW_MS, RefillLatency } from '../../master/refill-latency.js';

/**
 * qfarm_slot_refill_seconds: how long a slot freed by a result waits for its next task, when
 * work is queued for it. A clock the test moves stands in for performance.now().
 */

function measured() {
  let now = 1000;
  const refills = new RefillLatency(() => now);
  return { refills, advance: (ms: number) => void (now += ms) };
}

t.test('a result followed by an assignment to its host is one refill, timed from the frame\'s arrival', (t) => {
  const { refills, advance } = measured();
  refills.resultArrived('a');
  advance(3); // queued behind other frames
  refills.resultHandled('a');
  advance(2); // the pass and the commit
  refills.assigned('a');
  const s = refills.summary();
  t.equal(s.count, 1);
  t.ok(Math.abs(s.p50 - 0.005) < 0.0001, `5 ms (${s.p50} s)`);
  t.ok(Math.abs(s.sum - 0.005) < 0.0001);
  t.end();
});

t.test('an assignment with no result before it (a new job on an idle host) is not a refill', (t) => {
  const { refills } = measured();
  refills.assigned('a');
  t.equal(refills.summary().count, 0);
  t.ok(Number.isNaN(refills.summary().p99), 'no quantile without samples');
  t.end();
});

t.test('a pass that gives a handled host nothing ends its wait uncounted; results still queued keep theirs', (t) => {
  const { refills, advance } = measured();
  refills.resultArrived('idle'); // nothing queued fits it
  refills.resultHandled('idle');
  refills.resultArrived('busy'); // its result is handled after the pass
  refills.resultArrived('leased');
  refills.resultHandled('leased');
  refills.passEnded(new Set(['leased']));
  advance(60_000);
  refills.assigned('idle'); // a job submitted a minute later
  t.equal(refills.summary().count, 0, 'the idle host\'s minute is not a refill');
  refills.resultHandled('busy');
  refills.assigned('busy');
  refills.assigned('leased');
  t.equal(refills.summary().count, 2, 'the other two were waiting for work that came');
  t.end();
});

t.test('a host with several results waiting counts from its first; one that left counts nothing', (t) => {
  const { refills, advance } = measured();
  refills.resultArrived('a');
  advance(4);
  refills.resultArrived('a');
  refills.assigned('a');
  t.ok(Math.abs(refills.summary().max - 0.004) < 0.0001, 'from the first result');
  refills.resultArrived('gone');
  refills.left('gone');
  refills.assigned('gone');
  t.equal(refills.summary().count, 1);
  t.end();
});

t.test('the summary covers the last 5 to 10 minutes', (t) => {
  const { refills, advance } = measured();
  const refill = (ms: number): void => {
    refills.resultArrived('a');
    advance(ms);
    refills.assigned('a');
  };
  refill(100);
  advance(REFILL_WINDOW_MS);
  refill(1);
  t.equal(refills.summary().count, 2, 'the previous window is still in');
  advance(REFILL_WINDOW_MS);
  t.equal(refills.summary().count, 1, 'the slow refill of 10 minutes ago is out');
  advance(2 * REFILL_WINDOW_MS);
  t.equal(refills.summary().count, 0, 'nothing within the last 10 minutes');
  refill(7);
  refills.reset();
  t.equal(refills.summary().count, 0, 'reset forgets (a benchmark phase starts)');
  t.end();
});
