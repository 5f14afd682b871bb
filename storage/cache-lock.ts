import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError } from './errors.js';

/** One agent per cache directory: two would evict each other's leased entries. */
export class StageCacheLockedError extends StorageError {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`stage cache ${dir} is in use by process ${pid}; give each agent its own cache directory`);
  }
}

/**
 * Takes the directory's lock file, holding this process's pid. A lock whose process is gone (a
 * crash) is taken over; a live one is a StageCacheLockedError naming its pid.
 */
export async function lockCacheDir(dir: string): Promise<void> {
  const lockFile = join(dir, 'lock');
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fh = await open(lockFile, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(lockFile, 'utf8').catch(() => '')).trim());
      if (pid === process.pid || !isAlive(pid)) {
        await rm(lockFile, { force: true }); // stale: its process is gone
        continue;
      }
      throw new StageCacheLockedError(dir, pid);
    }
  }
}

/** Lets go of the lock (the cached objects stay for the next run). */
export async function unlockCacheDir(dir: string): Promise<void> {
  await rm(join(dir, 'lock'), { force: true });
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
