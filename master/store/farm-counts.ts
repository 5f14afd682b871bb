import { perDatabase, StoreReader } from './store-reader.js';
import { TaskState } from '../states.js';
import { HELD_TASKS, LIVE_JOB } from './sql-states.js';

/**
 * Farm-wide counts for `/health`, `/healthz` and Prometheus `/metrics`: numbers only, never a
 * user, job or host name (those endpoints answer without authentication).
 */
export class FarmCounts extends StoreReader {
  /** Reads the store once; throws when it cannot be read. */
  ping(): void {
    this.q('SELECT 1').get();
  }

  liveJobCount(): number {
    return this.q(`SELECT COUNT(*) FROM jobs WHERE ${LIVE_JOB}`).pluck().get() as number;
  }

  /** Tasks leased to or running on an agent. */
  activeTaskCount(): number {
    return this.q(`SELECT COUNT(*) FROM tasks WHERE state IN (${HELD_TASKS})`).pluck().get() as number;
  }

  /** Hosts the master has seen, connected or not. */
  knownHostCount(): number {
    return this.q('SELECT COUNT(*) FROM hosts').pluck().get() as number;
  }

  /** Finished tasks that succeeded (no failure, exit 0) and that did not. */
  finishedTaskCounts(): { ok: number; failed: number } {
    const finished = `SELECT COUNT(*) FROM tasks WHERE state = '${TaskState.Done}' AND`;
    return {
      ok: this.q(`${finished} failed_code = 0 AND exit_status = 0`).pluck().get() as number,
      failed: this.q(`${finished} NOT (failed_code = 0 AND exit_status = 0)`).pluck().get() as number,
    };
  }

  /** Milliseconds from lease to start of the attempts leased since `since`, ascending. */
  dispatchLatenciesMs(since: number): number[] {
    return this.q('SELECT started_at - leased_at FROM attempts WHERE started_at IS NOT NULL AND leased_at >= ? ORDER BY 1').pluck().all(since) as number[];
  }
}

/** The store's farm counts, one per database. */
export const farmCounts = perDatabase((db) => new FarmCounts(db));
