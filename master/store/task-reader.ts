import { TaskState } from '../states.js';
import { perDatabase, StoreReader } from './store-reader.js';

/** How a task ended (done or deleted), with the reason its committed attempt gave. */
export interface TaskOutcomeRow {
  task_id: number;
  state: string;
  exit_status: number | null;
  failed_code: number | null;
  failed_reason: string | null;
}

const TASK_OUTCOMES = 'SELECT t.task_id, t.state, t.exit_status, t.failed_code, a.failed_reason FROM tasks t LEFT JOIN attempts a ON a.id = t.attempt_id';

/** Read-only queries about single tasks, for logs, `qsub -sync`, qrsh and the frame views. */
export class TaskReader extends StoreReader {
  /** The task's state, or undefined when it has no row (never dispatched). */
  state(jobId: number, taskId: number): string | undefined {
    return this.q('SELECT state FROM tasks WHERE job_id = ? AND task_id = ?').pluck().get(jobId, taskId) as string | undefined;
  }

  /** How many attempts the task had, or undefined when it has no row. */
  attemptCount(jobId: number, taskId: number): number | undefined {
    return this.q('SELECT attempts FROM tasks WHERE job_id = ? AND task_id = ?').pluck().get(jobId, taskId) as number | undefined;
  }

  /** The task's current attempt (the committed one once it is done), if it has one. */
  currentAttemptId(jobId: number, taskId: number): string | undefined {
    return this.q('SELECT attempt_id FROM tasks WHERE job_id = ? AND task_id = ?').pluck().get(jobId, taskId) as string | undefined;
  }

  /** The job's tasks that ended, done or deleted, by task id. */
  endedTasks(jobId: number): TaskOutcomeRow[] {
    return this.q(
      `${TASK_OUTCOMES} WHERE t.job_id = ? AND t.state IN ('${TaskState.Done}', '${TaskState.Deleted}') ORDER BY t.task_id`,
    ).all(jobId) as TaskOutcomeRow[];
  }

  /** The first task row of a job (a qrsh job has one task), whatever its state. */
  firstTask(jobId: number): TaskOutcomeRow | undefined {
    return this.q(`${TASK_OUTCOMES} WHERE t.job_id = ? ORDER BY t.task_id LIMIT 1`).get(jobId) as TaskOutcomeRow | undefined;
  }

  /** Task rows of the job the scheduler has placed: a row leaves 'pending' (or first appears, leased) then. */
  placedCount(jobId: number): number {
    return this.q(`SELECT COUNT(*) FROM tasks WHERE job_id = ? AND state != '${TaskState.Pending}'`).pluck().get(jobId) as number;
  }

  /** Ids of the job's tasks that finished with exit status 0, ascending. */
  succeededIds(jobId: number): number[] {
    return this.q(`SELECT task_id FROM tasks WHERE job_id = ? AND state = '${TaskState.Done}' AND COALESCE(exit_status, 0) = 0 ORDER BY task_id`)
      .pluck()
      .all(jobId) as number[];
  }
}

/** The store's task reader, one per database. */
export const taskReader = perDatabase((db) => new TaskReader(db));
