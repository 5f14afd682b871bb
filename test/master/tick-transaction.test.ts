import t from 'tap';
import * as fs from 'node:fs';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { runTransaction } from '../../master/store/database.js';
import { LAZY_WITHIN_MS, TickTransaction } from '../../master/store/tick-transaction.js';
import { openTestStore } from '../helpers/test-store.js';

/**
 * The master's hot path commits once per turn of the event loop (issue 14): what agents say in
 * one turn and the scheduling pass after it share one transaction; acknowledgements and
 * assignments wait for the commit.
 */

const quiet = pino({ level: 'silent' });
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function setup(t: Parameters<typeof openTestStore>[0]) {
  const { db, file } = openTestStore(t, 'tick-transaction');
  db.exec('CREATE TABLE notes (text TEXT NOT NULL)');
  // A second connection sees only what is committed, as a restarted master would.
  const outside = new Database(file, { readonly: true });
  t.teardown(() => outside.close());
  const committedNotes = (): string[] => outside.prepare('SELECT text FROM notes ORDER BY rowid').pluck().all() as string[];
  // As the store's changes are written: each in runTransaction, a savepoint inside the turn.
  const note = (text: string) => () => runTransaction(db, () => void db.prepare('INSERT INTO notes (text) VALUES (?)').run(text));
  return { db, tick: new TickTransaction(db, quiet), committedNotes, note };
}

t.test('work queued in one turn commits together, on the next turn, in order', async (t) => {
  const { tick, committedNotes, note } = setup(t);
  for (const text of ['started', 'finished', 'scheduled']) tick.enqueue(() => note(text)());
  t.same(committedNotes(), [], 'nothing is written while the turn is still being gathered');
  await nextTurn();
  t.same(committedNotes(), ['started', 'finished', 'scheduled']);
  t.equal(tick.turns, 1, 'one transaction for the three');
  t.equal(tick.items, 3);
});

t.test('work queued while the turn runs joins it (a result asks for a scheduling pass)', async (t) => {
  const { tick, committedNotes, note } = setup(t);
  tick.enqueue(() => {
    note('result')();
    tick.enqueue(() => note('pass')());
  });
  await nextTurn();
  t.same(committedNotes(), ['result', 'pass']);
  t.equal(tick.turns, 1);
});

t.test('a change that throws is undone alone; the rest of the turn commits', async (t) => {
  const { db, tick, committedNotes, note } = setup(t);
  tick.enqueue(() => note('before')());
  tick.enqueue(() =>
    runTransaction(db, () => {
      note('half of a broken change')();
      throw new Error('broken');
    }),
  );
  tick.enqueue(() => note('after')());
  await nextTurn();
  t.same(committedNotes(), ['before', 'after']);
});

t.test('after-commit steps run once the turn is durable, in order, and at once outside a turn', async (t) => {
  const { tick, committedNotes, note } = setup(t);
  const seen: string[][] = [];
  tick.enqueue(() => {
    note('result')();
    tick.afterCommit(() => seen.push(['ack', ...committedNotes()]));
    tick.afterCommit(() => seen.push(['assign', ...committedNotes()]));
  });
  await nextTurn();
  t.same(seen, [['ack', 'result'], ['assign', 'result']], 'the ack is sent only when another connection can read the result');
  let ranAtOnce = false;
  tick.afterCommit(() => (ranAtOnce = true));
  t.ok(ranAtOnce, 'no turn open: nothing to wait for');
});

t.test('when the commit fails, nothing of the turn is kept and no after-commit step runs', async (t) => {
  const { db, tick, committedNotes, note } = setup(t);
  const acks: string[] = [];
  tick.enqueue(() => {
    note('result')();
    tick.afterCommit(() => acks.push('result'));
  });
  tick.enqueue(() => {
    // A foreign key checked only at COMMIT: the commit of the whole turn fails.
    db.pragma('defer_foreign_keys = ON');
    db.prepare('INSERT INTO deleted_ranges (job_id, first, last) VALUES (?, ?, ?)').run(424242, 1, 2);
  });
  await nextTurn();
  t.same(committedNotes(), [], 'the turn was rolled back');
  t.same(acks, [], 'the agent is not told its result is safe: it will replay it');
  t.notOk(db.inTransaction, 'the store is usable again');
  tick.enqueue(() => note('next turn')());
  await nextTurn();
  t.same(committedNotes(), ['next turn']);
});

t.test('a flush called directly (a hello, a disconnect) runs what is queued now', async (t) => {
  const { tick, committedNotes, note } = setup(t);
  tick.enqueue(() => note('finished')());
  tick.flush();
  t.same(committedNotes(), ['finished'], 'committed before the hello is handled');
  await nextTurn();
  t.equal(tick.turns, 1, 'the timer finds nothing left to do');
});

t.test('lazy work (a start, usage, output) rides with the next turn that comes, in order', async (t) => {
  const { tick, committedNotes, note } = setup(t);
  tick.enqueueLazy(note('started'));
  await nextTurn();
  t.same(committedNotes(), [], 'no turn of its own on the next tick');
  tick.enqueueLazy(note('usage'));
  tick.enqueue(note('finished'));
  await nextTurn();
  t.same(committedNotes(), ['started', 'usage', 'finished'], 'joined the result, queued before it');
  t.equal(tick.turns, 1, 'one commit for the three');
  await new Promise((resolve) => setTimeout(resolve, LAZY_WITHIN_MS * 3));
  t.equal(tick.turns, 1, 'the lazy timer was cleared by that turn');
});

t.test('lazy work with no turn to join commits on its own within LAZY_WITHIN_MS', async (t) => {
  const { tick, committedNotes, note } = setup(t);
  const queuedAt = performance.now();
  tick.enqueueLazy(note('output'));
  tick.enqueueLazy(note('more output'));
  while (committedNotes().length === 0 && performance.now() - queuedAt < 1000) await new Promise((resolve) => setTimeout(resolve, 1));
  t.ok(committedNotes().length > 0, 'committed in time (within a second)');
  t.ok(performance.now() - queuedAt >= LAZY_WITHIN_MS - 1, 'after waiting for a turn to join');
  t.same(committedNotes(), ['output', 'more output']);
  t.equal(tick.turns, 1);
});

t.test('a direct flush takes lazy work along; after close nothing is queued and no timer fires', async (t) => {
  const { tick, committedNotes, note } = setup(t);
  tick.enqueueLazy(note('started'));
  tick.flush();
  t.same(committedNotes(), ['started'], 'a hello or a disconnect flushes it too');
  tick.enqueueLazy(note('late'));
  tick.flush();
  tick.close();
  tick.enqueueLazy(note('after close'));
  await new Promise((resolve) => setTimeout(resolve, LAZY_WITHIN_MS * 3));
  t.same(committedNotes(), ['started', 'late'], 'work after close is refused (the agent sends it again)');
  t.equal(tick.turns, 2);
});

t.test('runTransaction: a change inside a change is undone alone when it throws; an outer failure undoes both', (t) => {
  const { db, committedNotes, note } = setup(t);
  runTransaction(db, () => {
    note('outer')();
    t.throws(() => runTransaction(db, () => (note('inner')(), (() => { throw new Error('inner broke'); })())), /inner broke/);
    note('outer again')();
  });
  t.same(committedNotes(), ['outer', 'outer again'], 'the inner change left nothing');
  t.throws(() => runTransaction(db, () => (note('kept by the inner')(), (() => { throw new Error('outer broke'); })())), /outer broke/);
  t.same(committedNotes(), ['outer', 'outer again'], 'a released inner change goes with its outer transaction');
  t.notOk(db.inTransaction, 'nothing left open');
  t.equal(runTransaction(db, () => 42), 42, 'the value of the change is returned');
  t.end();
});

t.test("a turn's savepoints keep their statement journal in memory: no temporary file is written", async (t) => {
  const { db, tick } = setup(t);
  db.exec('CREATE TABLE blobs (data BLOB NOT NULL)');
  const tempFiles = (): string[] =>
    fs.readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
        return /etilqs_/.test(target) ? [target] : [];
      } catch {
        return [];
      }
    });
  let seen: string[] = [];
  // Each change a savepoint, as the store's are; together far beyond SQLite's 64 KiB spill size.
  for (let i = 0; i < 50; i++) tick.enqueue(() => runTransaction(db, () => void db.prepare('INSERT INTO blobs (data) VALUES (?)').run(Buffer.alloc(8192, i))));
  tick.enqueue(() => runTransaction(db, () => void db.prepare('UPDATE blobs SET data = zeroblob(8192)').run()));
  tick.enqueue(() => (seen = tempFiles()));
  await nextTurn();
  t.equal(db.prepare('SELECT count(*) FROM blobs').pluck().get(), 50, 'the turn committed');
  t.same(seen, [], 'no SQLite temporary file was open during the turn');
});
