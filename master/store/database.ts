import Database from 'better-sqlite3';
import { MIGRATIONS } from './schema.js';

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
 */
export function openDatabase(file: string): Db {
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
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
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
