/**
 * A child process for test/master/wal-write-gathering.test.ts: opens a store the way the master
 * does (openDatabase, so WAL writes are gathered) and commits transactions until told how many,
 * or forever. Each commit inserts rows of ~3.5 KB, one page each: `pages` pages, or 40 (past the
 * 128 KiB a gathered write may hold) every fifth commit. After each commit it prints
 * `committed <first id> <last id>`; a commit that throws prints `failed <first id> <code>` and
 * exits 3.
 *
 *   wal-writer.ts <store file> <pages per commit> [commits]
 */
import { openDatabase } from '../../master/store/database.js';

const [file, pagesArg, commitsArg] = process.argv.slice(2);
const pages = Number(pagesArg);
const commits = commitsArg === undefined ? Infinity : Number(commitsArg);
const db = openDatabase(file!);
db.exec('CREATE TABLE IF NOT EXISTS wal_probe (id INTEGER PRIMARY KEY, body BLOB NOT NULL)');
const insert = db.prepare('INSERT INTO wal_probe (id, body) VALUES (?, ?)');
const body = Buffer.alloc(3500, 0x5a);
let next = ((db.prepare('SELECT MAX(id) FROM wal_probe').pluck().get() as number | null) ?? 0) + 1;
const commit = db.transaction((first: number, count: number) => {
  for (let id = first; id < first + count; id++) insert.run(id, body);
});
for (let n = 0; n < commits; n++) {
  const count = n % 5 === 4 ? 40 : pages;
  try {
    commit(next, count);
  } catch (err) {
    process.stdout.write(`failed ${next} ${(err as { code?: string }).code ?? (err as Error).message}\n`);
    process.exit(3);
  }
  process.stdout.write(`committed ${next} ${next + count - 1}\n`);
  next += count;
}
db.close();
