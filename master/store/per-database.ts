import type { Db } from './database.js';

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
