import Database from 'better-sqlite3';
import { nativeBuildFile } from '../package-root.js';

let loaded = false;

/**
 * Makes SQLite write each commit's WAL frames in one system call instead of two per page
 * (native/wal-write-gathering.c: why, and why it is as durable as SQLite's own writes). The
 * extension registers itself as the default VFS of better-sqlite3's SQLite, for this process:
 * every connection opened afterwards uses it (the store's, the checkpointer thread's).
 * It is loaded through a throwaway in-memory connection, once.
 */
export function useWalWriteGathering(): void {
  if (loaded) return;
  const file = nativeBuildFile('qfarm_wal_gathering.so', "the store's SQLite extension");
  const loader = new Database(':memory:');
  try {
    // SQLite finds the entry point from the file's name: sqlite3_qfarmwalgathering_init.
    loader.loadExtension(file);
  } catch (err) {
    throw new Error(`cannot load the store's SQLite extension ${file}: ${(err as Error).message}. Rebuild it with 'npm install'.`, { cause: err });
  } finally {
    loader.close();
  }
  loaded = true;
}
