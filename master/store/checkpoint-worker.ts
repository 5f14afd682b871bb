/**
 * The WAL checkpointer's thread (master/store/checkpointer.ts starts it). Its own connection to
 * the store copies committed pages from the WAL into the database file with PASSIVE checkpoints,
 * which never block the master's connection, so the copying and its two fsyncs are not paid
 * inside a turn of the master's event loop.
 *
 * It sleeps on shared memory (no event loop of its own to keep busy): a checkpoint when the
 * master says it committed, at most one per `spacingMs`; the master wakes it to stop.
 */
import { workerData, parentPort } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { CheckpointSlot, type CheckpointWorkerData } from './checkpointer.js';

const { file, spacingMs, shared } = workerData as CheckpointWorkerData;
const slots = new Int32Array(shared);

function checkpointLoop(db: Database.Database): void {
  let seenCommits = 0;
  for (;;) {
    // Asleep until the master commits (or asks us to stop).
    Atomics.wait(slots, CheckpointSlot.Commits, seenCommits);
    if (Atomics.load(slots, CheckpointSlot.Stop)) return;
    // Gather the commits of the next moment into one checkpoint: a page written by many of
    // them is copied once.
    Atomics.wait(slots, CheckpointSlot.Stop, 0, spacingMs);
    seenCommits = Atomics.load(slots, CheckpointSlot.Commits);
    db.pragma('wal_checkpoint(PASSIVE)');
    Atomics.add(slots, CheckpointSlot.Checkpoints, 1);
    if (Atomics.load(slots, CheckpointSlot.Stop)) return;
  }
}

let db: Database.Database | undefined;
try {
  db = new Database(file, { fileMustExist: true });
  // A checkpoint syncs as its connection's `synchronous` says: the master's NORMAL.
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 0');
  parentPort?.postMessage({ ready: true });
  checkpointLoop(db);
} catch (err) {
  parentPort?.postMessage({ error: (err as Error).message });
} finally {
  db?.close();
}
