import type { Db } from './database.js';
import { StoreReader } from './store-reader.js';

/** A host in SGE's error state `E`: since when, and why (master/host-health.ts decides). */
export interface HostError {
  hostname: string;
  since: number;
  reason: string;
}

/**
 * The `host_errors` table: hosts in error state, kept across master restarts. Its own table
 * (not a migration of schema.ts), created by the first HostErrorTable: a host's error state
 * belongs to master/host-health.ts alone, which is its only writer.
 */
export class HostErrorTable extends StoreReader {
  constructor(db: Db) {
    super(db);
    db.exec(`CREATE TABLE IF NOT EXISTS host_errors (
      hostname TEXT PRIMARY KEY,
      since    INTEGER NOT NULL,
      reason   TEXT NOT NULL
    )`);
  }

  /** Hosts in error state (the scheduler asks on every pass). */
  hostnames(): string[] {
    return this.q('SELECT hostname FROM host_errors').pluck().all() as string[];
  }

  all(): HostError[] {
    return this.q('SELECT hostname, since, reason FROM host_errors').all() as HostError[];
  }

  /** Puts the host in error state; false when it already was (its first reason stays). */
  record(hostname: string, since: number, reason: string): boolean {
    return this.q('INSERT OR IGNORE INTO host_errors (hostname, since, reason) VALUES (?, ?, ?)').run(hostname, since, reason).changes > 0;
  }

  /** Takes the host out of error state; false when it was not in it. */
  clear(hostname: string): boolean {
    return this.q('DELETE FROM host_errors WHERE hostname = ?').run(hostname).changes > 0;
  }
}

/**
 * Hosts in error state, read without creating the table: a reader of a store whose master
 * never ran host health (the table is absent) sees none.
 */
export function hostnamesInError(db: Db): string[] {
  const kept = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'host_errors'`).get() !== undefined;
  return kept ? (db.prepare('SELECT hostname FROM host_errors').pluck().all() as string[]) : [];
}
