import type { TaskRange } from '../../protocol/job-spec.js';
import { rangeHas } from '../../protocol/task-ranges.js';
import type { statementCache } from './database.js';
import type { JobReader, JobRow } from './job-reader.js';

/**
 * Most never-dispatched task ids one `qdel -t` may delete *individually* (a `deleted` row each).
 * A range reaching the job's last task needs no rows at all (the cursor moves past the end);
 * only a huge range in the middle of a huge array would need this many, and is refused.
 */
export const MAX_INDIVIDUAL_TASK_DELETES = 100_000;

export class TaskRangeTooLargeError extends Error {
  constructor(
    readonly jobId: number,
    readonly count: number,
  ) {
    super(
      `denied: deleting ${count} never-started tasks from the middle of job ${jobId} would store a row for each ` +
        `(at most ${MAX_INDIVIDUAL_TASK_DELETES}); delete up to the job's last task (-t FIRST-LAST) or the whole job`,
    );
    this.name = 'TaskRangeTooLargeError';
  }
}

/**
 * Deletes the never-dispatched tasks of `job` that `tasks` selects (inside the caller's
 * transaction) and returns how many there were. Array jobs are one row plus a cursor
 * (`next_task`: ids below it have rows or were deleted before dispatch): when the selection
 * covers every id from the cursor to the end, the cursor moves past `last_task` and no row is
 * written, so `qdel -t 1-2000000000` costs the same as deleting one task.
 */
export function deleteUndispatched(q: ReturnType<typeof statementCache>, reader: JobReader, job: JobRow, tasks: TaskRange): number {
  const range: TaskRange = { first: job.first_task, last: job.last_task, step: job.step };
  if (job.next_task > job.last_task) return 0;
  if (coversTail(job, tasks)) {
    const count = reader.undispatchedCount(job);
    q('UPDATE jobs SET next_task = ? WHERE id = ?').run(job.last_task + job.step, job.id);
    return count;
  }
  const start = Math.max(job.next_task, tasks.first);
  const end = Math.min(job.last_task, tasks.last);
  // Ids of the job's own step in [start, end]: what the loop below would visit.
  const span = end < start ? 0 : Math.floor((end - start) / job.step) + 1;
  if (span > MAX_INDIVIDUAL_TASK_DELETES) throw new TaskRangeTooLargeError(job.id, span);
  const insert = q(`INSERT OR IGNORE INTO tasks (job_id, task_id, state) VALUES (?, ?, 'deleted')`);
  let deleted = 0;
  const first = start + ((job.step - ((start - job.first_task) % job.step)) % job.step);
  for (let id = first; id <= end; id += job.step) {
    if (rangeHas(range, id) && rangeHas(tasks, id) && insert.run(job.id, id).changes > 0) deleted++;
  }
  return deleted;
}

/** Does `tasks` select every id of the job from its cursor to its last task? */
function coversTail(job: JobRow, tasks: TaskRange): boolean {
  if (tasks.first > job.next_task || tasks.last < job.last_task) return false;
  if (tasks.step === 1) return true;
  // Every id next_task + k·job.step must be tasks.first + m·tasks.step.
  return job.step % tasks.step === 0 && (job.next_task - tasks.first) % tasks.step === 0;
}
