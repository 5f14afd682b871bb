import type { Db } from './database.js';
import type { JobReader, JobRow } from './job-reader.js';
import { checkOwner, type Actor } from './ownership.js';
import { HELD_TASKS, sqlList } from './sql-states.js';
import { TaskState } from '../states.js';

/** What `qmod -cj` found: qfarm has no error state, so only what is waiting and what runs. */
export interface ClearErrorOutcome {
  jobId: number;
  isArray: boolean;
  /** Some task is queued (requeued or never dispatched). */
  waiting: boolean;
  /** Leased or running task ids, sorted. */
  active: number[];
}

/**
 * `qmod -cj`: clear a job's error state. qfarm has no error state (a task that cannot run is
 * failed with its reason, test/e2e/attacks.test.ts), so there is never anything to clear; what
 * is left is to say so, which master/api/sge-replies.ts does in SGE 8.1.9's words. Another
 * user's job is refused first.
 */
export function clearErrorState(db: Db, reader: JobReader, job: JobRow, actor: Actor): ClearErrorOutcome {
  checkOwner(job, actor, 'clear');
  const requeued = db.prepare(`SELECT COUNT(*) FROM tasks WHERE job_id = ? AND state = ${sqlList([TaskState.Pending])}`).pluck().get(job.id) as number;
  const active = db.prepare(`SELECT task_id FROM tasks WHERE job_id = ? AND state IN (${HELD_TASKS}) ORDER BY task_id`).pluck().all(job.id) as number[];
  return { jobId: job.id, isArray: job.is_array === 1, waiting: requeued + reader.undispatchedCount(job) > 0, active };
}
