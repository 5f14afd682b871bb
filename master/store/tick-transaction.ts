import type { Logger } from 'pino';
import { runTransaction, type Db } from './database.js';

/**
 * One SQLite transaction per turn of the event loop for the master's hot path. Agents' frames
 * (started, usage, output, finished) and scheduling passes are queued here and run together on
 * the next `setImmediate`, inside one `BEGIN … COMMIT`: the store's named state changes still
 * run in their own `db.transaction`, which nests as a savepoint, so a change that throws is
 * undone alone and the others commit. A commit is the expensive part of a write in WAL mode;
 * under load one turn carries hundreds of results and leases.
 *
 * What must not happen before the data is durable waits for the commit (`afterCommit`): the
 * `ack` that lets an agent forget a result, an assignment sent to an agent, a log append whose
 * sequence number is recorded in the same turn. If the commit itself fails, those callbacks are
 * dropped and logged: the agents replay what was not acknowledged.
 *
 * Work nobody waits on (a task's start, its usage, its output) is queued with `enqueueLazy`: it
 * rides with the next turn, or runs LAZY_WITHIN_MS later if none comes. At 40 % load a third of
 * the turns held nothing else, and every commit writes its pages again (bench:agents).
 */
/** The longest lazy work waits for a turn to join (ms). */
export const LAZY_WITHIN_MS = 5;

export class TickTransaction {
  private queue: (() => void)[] = [];
  private lazyTimer: NodeJS.Timeout | undefined;
  private committed: (() => void)[] = [];
  private scheduled = false;
  private flushing = false;
  /** Turns flushed and work items run in them, for benchmarks and tests. */
  turns = 0;
  items = 0;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  private closed = false;

  /** Runs `work` in the next turn's transaction, after the work queued before it. */
  enqueue(work: () => void): void {
    if (!this.push(work) || this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /**
   * Runs `work` in a turn's transaction within LAZY_WITHIN_MS, in order with all other work: in
   * the next turn if something queued with `enqueue` brings one sooner.
   */
  enqueueLazy(work: () => void): void {
    if (!this.push(work) || this.scheduled || this.flushing || this.lazyTimer) return;
    this.lazyTimer = setTimeout(() => {
      this.lazyTimer = undefined;
      this.flush();
    }, LAZY_WITHIN_MS);
  }

  private push(work: () => void): boolean {
    if (this.closed) {
      this.log.warn('a store change arrived after the master stopped; the agent will send it again');
      return false;
    }
    this.queue.push(work);
    return true;
  }

  /** Runs `fn` once the current turn has committed (at once when no turn is open). */
  afterCommit(fn: () => void): void {
    if (!this.flushing) return fn();
    this.committed.push(fn);
  }

  /** After the last flush: the database is about to close. */
  close(): void {
    this.closed = true;
    clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
  }

  /**
   * Runs everything queued now, in one transaction, then the after-commit callbacks. Called by
   * the timer, and directly by a hello or a disconnect so that an agent's earlier frames are
   * handled before what it does next.
   */
  flush(): void {
    this.scheduled = false;
    if (this.flushing || this.queue.length === 0) return;
    clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
    this.flushing = true;
    this.turns++;
    try {
      runTransaction(this.db, () => {
        // Work may queue more work (a result asks for a scheduling pass): it joins this turn.
        for (let i = 0; i < this.queue.length; i++) {
          this.items++;
          try {
            this.queue[i]!();
          } catch (err) {
            this.log.error({ err }, 'a queued store change failed; it was undone, the rest of the turn commits');
          }
        }
      });
    } catch (err) {
      this.log.error({ err, dropped: this.committed.length }, 'the store could not commit a turn of agent frames; their acknowledgements are not sent and the agents will replay them');
      this.committed = [];
    } finally {
      this.queue = [];
      this.flushing = false;
    }
    const callbacks = this.committed;
    this.committed = [];
    for (const fn of callbacks) {
      try {
        fn();
      } catch (err) {
        this.log.error({ err }, 'an after-commit step failed');
      }
    }
  }
}
