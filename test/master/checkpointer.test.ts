import t from 'tap';
import * as fs from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { runTransaction, type Db } from '../../master/store/database.js';
import { Checkpointer } from '../../master/store/checkpointer.js';
import { openTestStore } from '../helpers/test-store.js';

/**
 * SQLite checkpoints its WAL in the connection that commits: in the master, inside a turn of
 * its event loop. The checkpointer moves that to a thread of its own (issue 14, refill p99) and
 * must keep what SQLite's own checkpoints give: a WAL that does not grow without end, and data
 * in the database file.
 */

const PAGE = 4096;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function capturedLog() {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

function setup(t: Parameters<typeof openTestStore>[0]) {
  const { db, file } = openTestStore(t, 'checkpointer');
  db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)');
  let next = 0;
  /** One transaction writing `pages` pages of new rows. */
  const commitPages = (pages: number): void =>
    runTransaction(db, () => {
      const insert = db.prepare('INSERT INTO blobs (id, body) VALUES (?, ?)');
      for (let i = 0; i < pages; i++) insert.run(next++, Buffer.alloc(PAGE - 100, next % 251));
    });
  const walPages = (): number => (fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size / (PAGE + 24) : 0);
  return { db, file, commitPages, walPages, rows: () => next };
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const autocheckpoint = (db: Db): number => db.pragma('wal_autocheckpoint', { simple: true }) as number;

t.test('the master\'s connection never checkpoints; the thread does, and the WAL starts over', async (t) => {
  const { db, commitPages, walPages } = setup(t);
  // No limit for the master to step in at: what is checkpointed here, the thread did.
  const checkpointer = new Checkpointer(db, pino({ level: 'silent' }), { spacingMs: 5, maxWalBytes: 2 ** 30 });
  t.teardown(() => checkpointer.stop());
  t.equal(autocheckpoint(db), 0, 'SQLite\'s own checkpoints are off in the committing connection');
  await checkpointer.ready;
  // 40 bursts of 100 pages with pauses: without any checkpoint the WAL would hold all 4,000.
  for (let burst = 0; burst < 40; burst++) {
    commitPages(100);
    await sleep(15);
  }
  await until('a checkpoint by the thread', () => checkpointer.checkpoints > 0);
  t.ok(walPages() < 1000, `the WAL was checkpointed and reused (${walPages().toFixed(0)} pages, 4,000 written)`);
});

t.test('under commits without a pause the master finishes what the thread could not: the WAL stays bounded', async (t) => {
  const { db, commitPages, walPages } = setup(t);
  const limitPages = 300;
  const checkpointer = new Checkpointer(db, pino({ level: 'silent' }), { spacingMs: 1, maxWalBytes: limitPages * (PAGE + 24) });
  t.teardown(() => checkpointer.stop());
  await checkpointer.ready;
  let largest = 0;
  let written = 0;
  // The event loop never yields here, and each commit follows the last at once, so no
  // checkpoint of the thread can catch up with the WAL's end.
  const deadline = Date.now() + 1500;
  while (Date.now() < deadline) {
    commitPages(10);
    written += 10;
    largest = Math.max(largest, walPages());
  }
  t.ok(checkpointer.checkpoints > 0, `the thread checkpointed (${checkpointer.checkpoints} times)`);
  t.ok(checkpointer.fallbacks > 0, `the master finished the job ${checkpointer.fallbacks} times`);
  t.ok(written > 20 * limitPages, `${written} pages were written, many times the limit`);
  // Beyond the limit only by what was committed while the thread held the checkpoint; once it
  // lets go, the next commits bring the WAL back under (SQLite cuts the file when it starts over).
  await until('the WAL back under its limit', () => {
    commitPages(1);
    return walPages() <= limitPages + 1;
  });
  t.pass(`the WAL is back under ${limitPages} pages (it reached ${largest.toFixed(0)})`);
});

t.test('what the thread copied is in the database file: a copy of the file alone has every row', async (t) => {
  const { db, file, commitPages, rows } = setup(t);
  const checkpointer = new Checkpointer(db, pino({ level: 'silent' }), { spacingMs: 1, maxWalBytes: 2 ** 30 });
  t.teardown(() => checkpointer.stop());
  commitPages(50);
  // The thread's first checkpoint comes after this, the only commit since it started.
  await until('the thread\'s checkpoint', () => checkpointer.checkpoints > 0);
  // The file without its WAL (what a checkpoint is for): every committed row is there.
  const copy = `${file}.copy`;
  fs.copyFileSync(file, copy);
  t.teardown(() => fs.rmSync(copy, { force: true }));
  const { default: Database } = await import('better-sqlite3');
  const alone = new Database(copy, { readonly: true });
  t.teardown(() => alone.close());
  t.equal(alone.prepare('SELECT COUNT(*) FROM blobs').pluck().get(), rows());
});

t.test('a thread that cannot open the store hands checkpoints back to SQLite and says so', async (t) => {
  const { db, file, commitPages, walPages } = setup(t);
  // The master keeps its open file; the thread finds none under the name.
  fs.renameSync(file, `${file}.moved`);
  const { log, lines } = capturedLog();
  const checkpointer = new Checkpointer(db, log, { spacingMs: 1, maxWalBytes: 2 ** 30 });
  t.teardown(async () => {
    await checkpointer.stop();
    fs.renameSync(`${file}.moved`, file);
  });
  await until('the failure to be logged', () => lines.some((l) => l.level === 50));
  const error = lines.find((l) => l.level === 50)!;
  t.match(error.msg, /checkpoint thread failed .*the master checkpoints the WAL itself from now on/);
  t.equal(autocheckpoint(db), 1000, 'SQLite\'s own checkpoints are back on');
  for (let i = 0; i < 30; i++) commitPages(100);
  t.ok(walPages() < 2000, `the WAL stays bounded without the thread (${walPages().toFixed(0)} pages of 3,000 written)`);
});

t.test('stop ends the thread; closing the store afterwards leaves no WAL behind', async (t) => {
  const { db, file, commitPages } = setup(t);
  const checkpointer = new Checkpointer(db, pino({ level: 'silent' }), { spacingMs: 50, maxWalBytes: 2 ** 30 });
  commitPages(20);
  await checkpointer.stop();
  await checkpointer.stop(); // twice is harmless (a master stopping after a failed start)
  db.close();
  t.notOk(fs.existsSync(`${file}-wal`), 'the last connection to close checkpointed and removed the WAL');
  // openTestStore's teardown closes the store again: better-sqlite3 allows it.
});
