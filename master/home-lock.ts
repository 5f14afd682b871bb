import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FarmHome } from './home.js';

/** A second master was started on a QFARM_HOME that a live master holds. */
export class HomeInUseError extends Error {
  constructor(
    readonly home: string,
    readonly holder: { url?: string; pid?: number },
  ) {
    const where = holder.url ? `at ${holder.url}` : '(still starting)';
    const pid = holder.pid ? ` (pid ${holder.pid})` : '';
    super(
      `a master is already running ${where}${pid} with QFARM_HOME=${home}: ` +
        `use that farm, stop it first, or give this one another QFARM_HOME`,
    );
    this.name = 'HomeInUseError';
  }
}

export interface HomeLock {
  release(): void;
}

/**
 * Takes the exclusive lock of a farm's home for the life of this process: one master per
 * QFARM_HOME, or a second one would overwrite master.json and write into the first's store.
 * The lock is an SQLite EXCLUSIVE transaction on QFARM_HOME/master.lock that is never
 * committed: a POSIX record lock the kernel drops when the process dies (even on kill -9), so a
 * crashed master never leaves a stale lock behind, unlike a pid file.
 */
export function lockHome(home: FarmHome): HomeLock {
  const file = path.join(home.root, 'master.lock');
  const umask = process.umask(0o077);
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: 0 });
  } finally {
    process.umask(umask);
  }
  try {
    db.pragma('journal_mode = DELETE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new HomeInUseError(home.root, readHolder(home));
    throw new Error(`cannot lock ${file} for this master: ${(err as Error).message}`, { cause: err });
  }
  return { release: () => db.close() };
}

/** Who holds the home, from the master.json the running master published (absent while it starts). */
function readHolder(home: FarmHome): { url?: string; pid?: number } {
  try {
    const info = JSON.parse(fs.readFileSync(home.masterInfoFile, 'utf8')) as { url?: unknown; pid?: unknown };
    return {
      ...(typeof info.url === 'string' ? { url: info.url } : {}),
      ...(typeof info.pid === 'number' ? { pid: info.pid } : {}),
    };
  } catch {
    return {};
  }
}
