import Database from 'better-sqlite3';
import { MIGRATIONS } from './schema.js';
import { useWalWriteGathering } from './wal-write-gathering.js';

export type Db = Database.Database;

/** Raised when the store cannot be opened; names the file and what to do. */
export class StoreOpenError extends Error {
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super(
      `cannot open the qfarm store ${file}: ${(cause as Error).message}. ` +
        `Check that QFARM_HOME is writable and that no other master uses it.`,
      { cause },
    );
    this.name = 'StoreOpenError';
  }
}

/**
 * Opens (creating if needed) the SQLite store in WAL mode and applies pending migrations.
 * synchronous=NORMAL in WAL mode survives a process crash (kill -9) without losing committed
 * transactions; only a power loss can drop the last few, which the agents' replay covers.
 * A commit's WAL frames are written in one system call (wal-write-gathering.ts).
 */
export function openDatabase(file: string): Db {
  useWalWriteGathering();
  let db: Db;
  // The store holds every job's environment: created 0600 (SQLite gives -wal and -shm the
  // database file's mode, so they follow).
  const umask = process.umask(0o077);
  try {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
  } catch (err) {
    throw new StoreOpenError(file, err);
  } finally {
    process.umask(umask);
  }
  db.pragma('synchronous = NORMAL');
  // Every store change in the master's turn is a savepoint (tick-transaction.ts); SQLite keeps
  // the pages a savepoint may have to restore in a statement journal, which beyond 64 KiB spilled
  // to a temporary file: as many page writes as the WAL itself got. In memory it costs no syscall.
  db.pragma('temp_store = MEMORY');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    runTransaction(db, () => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    });
  }
  return db;
}

/** The statements a transaction is made of, compiled once per database. */
type TransactionControls = Record<'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo', Database.Statement>;
const transactionControls = new WeakMap<Db, TransactionControls>();
/** Who hears of each database's commits. */
const commitListeners = new WeakMap<Db, () => void>();

function controlsOf(db: Db): TransactionControls {
  let c = transactionControls.get(db);
  if (!c) {
    c = {
      begin: db.prepare('BEGIN'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT qfarm_change'),
      release: db.prepare('RELEASE qfarm_change'),
      rollbackTo: db.prepare('ROLLBACK TO qfarm_change'),
    };
    transactionControls.set(db, c);
  }
  return c;
}

/**
 * `listener` hears of every transaction runTransaction commits on `db` (the checkpointer);
 * undefined: nobody. It must not throw: its caller's change is committed already.
 */
export function onCommit(db: Db, listener: (() => void) | undefined): void {
  if (listener) commitListeners.set(db, listener);
  else commitListeners.delete(db);
}

/**
 * Runs `fn` in a transaction, or in a savepoint when one is open (a store change inside the
 * master's turn, tick-transaction.ts): committed if it returns, undone alone if it throws.
 * What better-sqlite3's `db.transaction(fn)()` does, without building a new wrapper function
 * per call (5 µs each, three times per task, showed in the master's profile).
 */
export function runTransaction<T>(db: Db, fn: () => T): T {
  const c = controlsOf(db);
  const nested = db.inTransaction;
  (nested ? c.savepoint : c.begin).run();
  try {
    const result = fn();
    if (nested) {
      c.release.run();
    } else {
      c.commit.run();
      commitListeners.get(db)?.();
    }
    return result;
  } catch (err) {
    // SQLite may have rolled back by itself already (a full disk): then there is nothing to undo.
    if (db.inTransaction) {
      if (nested) {
        c.rollbackTo.run();
        c.release.run();
      } else {
        c.rollback.run();
      }
    }
    throw err;
  }
}

/**
 * `LIMIT n` written into the SQL text. A bound `LIMIT ?` makes SQLite (3.53 with STAT4, as
 * better-sqlite3 builds it) compile the statement again on every run: it plans with the limit's
 * value, and better-sqlite3 binds anew each time. The scheduler's page of runnable jobs cost
 * 40 µs that way instead of 4. For limits from a few constants only: each value is a statement.
 */
export function sqlLimit(limit: number): string {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new Error(`LIMIT ${limit} is not a row count; a limit is a whole number of rows, 0 or more`);
  return `LIMIT ${limit}`;
}

/**
 * Prepared statements compiled once per SQL text: the hot paths (lease, commit) run the same
 * few statements thousands of times a second.
 */
export function statementCache(db: Db): (sql: string) => Database.Statement {
  const cache = new Map<string, Database.Statement>();
  return (sql) => {
    let stmt = cache.get(sql);
    if (!stmt) {
      stmt = db.prepare(sql);
      cache.set(sql, stmt);
    }
    return stmt;
  };
}
