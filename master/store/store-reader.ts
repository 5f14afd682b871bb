import { type Db, statementCache } from './database.js';

/** Base of the store's readers: each statement is compiled once, on first use, for the reader's life. */
export abstract class StoreReader {
  protected readonly q: ReturnType<typeof statementCache>;

  constructor(db: Db) {
    this.q = statementCache(db);
  }
}

/**
 * One instance per open store, made on first use: a reader built this way compiles each of
 * its statements once for the life of the database, however many requests ask it.
 */
export function perDatabase<T>(make: (db: Db) => T): (db: Db) => T {
  const made = new WeakMap<Db, T>();
  return (db) => {
    let instance = made.get(db);
    if (!instance) {
      instance = make(db);
      made.set(db, instance);
    }
    return instance;
  };
}
