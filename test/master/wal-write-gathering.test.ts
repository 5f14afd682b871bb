import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ChildProcess } from 'node:child_process';
import { openDatabase } from '../../master/store/database.js';
import { spawnTs } from '../helpers/spawn-ts.js';

/** write(2)-family system calls this process has made (all threads), from /proc/self/io. */
function writeCalls(): number {
  return Number(/^syscw: (\d+)$/m.exec(fs.readFileSync('/proc/self/io', 'utf8'))![1]);
}

function storeDir(t: Tap.Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-wal-gathering-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The `committed a b` ranges a wal-writer child printed, and its `failed` line if any. */
function writerOutput(stdout: string): { committed: [number, number][]; failed?: { id: number; code: string } } {
  const committed: [number, number][] = [];
  let failed: { id: number; code: string } | undefined;
  for (const line of stdout.split('\n')) {
    const c = /^committed (\d+) (\d+)$/.exec(line);
    if (c) committed.push([Number(c[1]), Number(c[2])]);
    const f = /^failed (\d+) (\S+)$/.exec(line);
    if (f) failed = { id: Number(f[1]), code: f[2]! };
  }
  return { committed, failed };
}

/** Ids in the store after a restart (a plain connection), and whether SQLite finds it whole. */
function reopened(file: string): { ids: Set<number>; integrity: string } {
  const db = new Database(file);
  try {
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    const ids = new Set(db.prepare('SELECT id FROM wal_probe').pluck().all() as number[]);
    return { ids, integrity };
  } finally {
    db.close();
  }
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

t.test("a commit's WAL frames are written in one system call, and are there before another connection sees the commit", (t) => {
  const file = path.join(storeDir(t), 'store.db');
  const db = openDatabase(file);
  t.teardown(() => db.close());
  db.pragma('wal_autocheckpoint = 0'); // a checkpoint's own writes to the database file are not counted here
  db.exec('CREATE TABLE wal_probe (id INTEGER PRIMARY KEY, body BLOB NOT NULL)');
  const insert = db.prepare('INSERT INTO wal_probe (id, body) VALUES (?, ?)');
  const reader = new Database(file, { readonly: true });
  t.teardown(() => reader.close());
  const count = reader.prepare('SELECT COUNT(*) FROM wal_probe').pluck();
  const body = Buffer.alloc(3500, 0x5a);
  const commits = 100;
  const pagesEach = 10;
  let unseen = 0;
  const before = writeCalls();
  for (let c = 0; c < commits; c++) {
    db.transaction(() => {
      for (let r = 0; r < pagesEach; r++) insert.run(c * pagesEach + r + 1, body);
    })();
    // Read at once by the second connection (from the WAL file: nothing is checkpointed).
    if (count.get() !== (c + 1) * pagesEach) unseen++;
  }
  const calls = writeCalls() - before;
  t.equal(unseen, 0, 'every commit is read back whole by another connection right after it');
  // SQLite alone writes a frame as two calls (header, page): 10 pages and the table's are 22+.
  t.ok(calls <= commits * 1.1, `${calls} write calls for ${commits} commits of ${pagesEach} pages each (SQLite alone: at least ${commits * 2 * pagesEach})`);
  t.end();
});

t.test("a rolled-back transaction's gathered frames never land on frames another connection committed after it", (t) => {
  const file = path.join(storeDir(t), 'store.db');
  const first = openDatabase(file);
  first.pragma('wal_autocheckpoint = 0');
  first.exec('CREATE TABLE wal_probe (id INTEGER PRIMARY KEY, body BLOB NOT NULL)');
  // A tiny page cache: the transaction writes (spills) pages to the WAL before it ends.
  first.pragma('cache_size = 10');
  const body = Buffer.alloc(3500, 0x5a);
  const insert = first.prepare('INSERT INTO wal_probe (id, body) VALUES (?, ?)');
  t.throws(
    () =>
      first.transaction(() => {
        for (let id = 1; id <= 50; id++) insert.run(id, body);
        throw new Error('undone');
      })(),
    /undone/,
  );
  // Another connection commits where the undone frames were written, past the 128 KiB the first
  // had written out (the rest of its spill was still gathered when it rolled back).
  const second = new Database(file);
  second.pragma('wal_autocheckpoint = 0');
  const insertSecond = second.prepare('INSERT INTO wal_probe (id, body) VALUES (?, ?)');
  second.transaction(() => {
    for (let id = 1000; id < 1060; id++) insertSecond.run(id, Buffer.alloc(3500, 0x33));
  })();
  second.close();
  first.close();
  const { ids, integrity } = reopened(file);
  t.equal(integrity, 'ok', 'the store is whole');
  t.same([...ids], Array.from({ length: 60 }, (_, i) => 1000 + i), "the other connection's commit is there, nothing of the undone one");
  t.end();
});

t.test('a store killed (SIGKILL) while committing keeps every commit it reported and is whole', async (t) => {
  const file = path.join(storeDir(t), 'store.db');
  const reported = new Set<number>();
  for (let round = 0; round < 3; round++) {
    const child = spawnTs('test/helpers/wal-writer.ts', [file, '20']);
    const done = exited(child);
    // Killed mid-stream once it has committed for a moment (some commits past 128 KiB).
    await new Promise<void>((resolve) => {
      let lines = 0;
      child.stdout!.on('data', (d: Buffer) => {
        lines += d.toString().split('\n').length - 1;
        if (lines >= 60 + round * 17) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('close', () => resolve());
    });
    const { signal, stdout, stderr } = await done;
    t.equal(signal, 'SIGKILL', `round ${round}: killed while writing ${stderr}`);
    for (const [first, last] of writerOutput(stdout).committed) for (let id = first; id <= last; id++) reported.add(id);
    const { ids, integrity } = reopened(file);
    t.equal(integrity, 'ok', `round ${round}: the store is whole after the kill`);
    const missing = [...reported].filter((id) => !ids.has(id));
    t.same(missing, [], `round ${round}: all ${reported.size} rows of reported commits are there`);
  }
});

t.test('a WAL write that fails fails its commit: nothing of it is kept, and the store stays whole', async (t) => {
  const file = path.join(storeDir(t), 'store.db');
  // Files of this process may not grow past 2 MiB: the WAL's write that crosses it fails (EFBIG;
  // the signal that would kill the writer for it is ignored). SQLite checkpoints only at 4 MiB.
  const child = spawnTs('test/helpers/wal-writer.ts', [file, '20', '1000'], {}, ['bash', '-c', 'ulimit -f 2048; trap "" XFSZ; exec "$@"', 'wal-writer']);
  const { code, stdout, stderr } = await exited(child);
  const { committed, failed } = writerOutput(stdout);
  t.equal(code, 3, `the writer stopped at the failed commit ${stderr}`);
  t.match(failed?.code, /^SQLITE_(IOERR|FULL)/, `the commit failed with SQLite's I/O error (${failed?.code})`);
  t.ok(committed.length > 5, `${committed.length} commits went in before it`);
  const { ids, integrity } = reopened(file);
  t.equal(integrity, 'ok', 'the store is whole');
  const expected = committed.flatMap(([first, last]) => Array.from({ length: last - first + 1 }, (_, i) => first + i));
  t.same([...ids].sort((a, b) => a - b), expected, 'exactly the rows of the commits reported, none of the failed one');
});
