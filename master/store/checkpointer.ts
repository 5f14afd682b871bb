import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { onCommit, type Db } from './database.js';

/** Int32 slots of the memory the master and the checkpointer's thread share. */
export const CheckpointSlot = {
  /** Commits of the master's connection (the checkpointer sleeps on it). */
  Commits: 0,
  /** 1: the checkpointer is to stop. */
  Stop: 1,
  Checkpoints: 2,
} as const;
const SLOT_COUNT = 3;

export interface CheckpointWorkerData {
  file: string;
  spacingMs: number;
  shared: SharedArrayBuffer;
}

export interface CheckpointerOptions {
  /** The checkpointer waits this long after a commit, so that one checkpoint copies many commits' pages. */
  spacingMs: number;
  /**
   * The WAL starts over only when a checkpoint has copied all of it; under load the master
   * commits while the checkpointer works, and the WAL would grow without end. Past this size
   * the master finishes the job itself (the few frames left, and the syncs).
   */
  maxWalBytes: number;
}

/**
 * 512 MiB: bench:agents' 1,400 commits a second write ~140 MB a second to the WAL and leave the
 * thread no pause, and a checkpoint of the master's own stops its turns for 5-10 ms; at this size
 * that is every few seconds. A master killed with such a WAL reads it again at start (~0.5 s).
 */
export const DEFAULT_CHECKPOINTER_OPTIONS: CheckpointerOptions = { spacingMs: 200, maxWalBytes: 512 * 2 ** 20 };

/** How often, at most, a commit looks at the WAL's size. */
const SIZE_CHECK_EVERY_MS = 20;

/** The worker next to this module, as compiled (.js) or as the tests load it (.ts). */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), `checkpoint-worker${path.extname(here)}`);
}

/**
 * Keeps SQLite's WAL checkpoints off the master's event loop. SQLite checkpoints in the
 * connection that commits: every 1,000 pages a turn copied ~4 MB into the database file and
 * waited for two fsyncs, 8–12 ms in which no frame was handled (bench:agents, refill p99).
 * Here the master's connection never checkpoints (wal_autocheckpoint = 0); a thread with its own
 * connection does (checkpoint-worker.ts), and the master does only what the thread could not
 * finish under continuous commits (maxWalBytes). Durability is SQLite's own either way: a
 * checkpoint is the same whichever connection runs it.
 */
export class Checkpointer {
  private readonly slots: Int32Array;
  private readonly worker: Worker;
  private readonly walFile: string;
  private stopped = false;
  private sizeCheckedAt = -Infinity;
  private overLimit = false;
  /** Resolves once the thread has its connection (or has failed and SQLite checkpoints again). */
  readonly ready: Promise<void>;
  /** Checkpoints the master ran itself because the WAL outgrew maxWalBytes. */
  fallbacks = 0;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly options: CheckpointerOptions = DEFAULT_CHECKPOINTER_OPTIONS,
  ) {
    const shared = new SharedArrayBuffer(SLOT_COUNT * Int32Array.BYTES_PER_ELEMENT);
    this.slots = new Int32Array(shared);
    db.pragma('wal_autocheckpoint = 0');
    // SQLite cuts the WAL file back to this size when it starts over: so a larger file is a WAL
    // that has not started over since it outgrew the limit.
    db.pragma(`journal_size_limit = ${Math.trunc(options.maxWalBytes)}`);
    this.walFile = `${db.name}-wal`;
    const workerData: CheckpointWorkerData = { file: db.name, spacingMs: options.spacingMs, shared };
    this.worker = new Worker(workerFile(), { workerData, stdout: false, stderr: false });
    this.worker.unref();
    this.ready = new Promise((resolve) => {
      this.worker.on('message', (message: { ready?: true; error?: string }) => {
        if (message.ready) return resolve();
        this.failed(new Error(message.error ?? 'no reason given'));
        resolve();
      });
    });
    this.worker.on('error', (err) => this.failed(err));
    this.worker.on('exit', (code) => {
      if (!this.stopped) this.failed(new Error(`its thread exited (code ${code})`));
    });
    onCommit(db, () => this.committed());
  }

  /** Checkpoints done by the thread so far. */
  get checkpoints(): number {
    return Atomics.load(this.slots, CheckpointSlot.Checkpoints);
  }

  private committed(): void {
    Atomics.add(this.slots, CheckpointSlot.Commits, 1);
    Atomics.notify(this.slots, CheckpointSlot.Commits);
    // A stat per commit was 1 % of the master's time at 1,400 commits a second; the WAL grows
    // by at most a few MiB between looks. Once over the limit, every commit tries until done.
    const now = performance.now();
    if (!this.overLimit && now - this.sizeCheckedAt < SIZE_CHECK_EVERY_MS) return;
    this.sizeCheckedAt = now;
    let size = 0;
    try {
      size = fs.statSync(this.walFile, { throwIfNoEntry: false })?.size ?? 0;
    } catch (err) {
      // Called after a commit: a throw would make the caller take its committed change for undone.
      this.log.error({ err }, `cannot read the size of the store's WAL (${this.walFile}): ${(err as Error).message}; checked again in ${SIZE_CHECK_EVERY_MS} ms`);
      return;
    }
    this.overLimit = size > this.options.maxWalBytes;
    if (this.overLimit && this.checkpointHere()) this.overLimit = false;
  }

  /**
   * True when done. Called after a commit, so it must not throw: the caller would take its
   * committed change for undone.
   */
  private checkpointHere(): boolean {
    try {
      // All copied, unless the thread is in the middle of a checkpoint (then this returns at
      // once, busy, and the next commit asks again): the next commit starts the WAL over.
      const [result] = this.db.pragma('wal_checkpoint(PASSIVE)') as { busy: number }[];
      if (result?.busy !== 0) return false;
      this.fallbacks++;
      return true;
    } catch (err) {
      this.log.error({ err }, `checkpointing the store's WAL (${this.walFile}) failed: ${(err as Error).message}; it is tried again after the next commit`);
      return false;
    }
  }

  /** The thread failed: SQLite's own checkpoints in the master's connection take over. */
  private failed(err: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    onCommit(this.db, undefined);
    this.db.pragma('wal_autocheckpoint = 1000');
    this.log.error({ err }, `the store's checkpoint thread failed (${err.message}); the master checkpoints the WAL itself from now on`);
  }

  /** Stops the thread (before the master's connection closes, which checkpoints what is left). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    onCommit(this.db, undefined);
    // Held by this wait only: an unreferenced thread would let the process end before it exits.
    this.worker.ref();
    const exited = once(this.worker, 'exit');
    Atomics.store(this.slots, CheckpointSlot.Stop, 1);
    Atomics.notify(this.slots, CheckpointSlot.Commits);
    Atomics.notify(this.slots, CheckpointSlot.Stop);
    await exited;
  }
}
