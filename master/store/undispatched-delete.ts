import type { TaskRange } from '../../protocol/job-spec.js';
import { rangeHas } from '../../protocol/task-ranges.js';
import { TaskState } from '../states.js';
import type { statementCache } from './database.js';
import { sqlList } from './sql-states.js';
import { alignUp, type JobReader, type JobRow } from './job-reader.js';

/**
 * Most never-dispatched task ids one `qdel -t` may delete *individually* (a `deleted` row each):
 * only a stepped selection that skips ids of the job needs rows; a run of consecutive ids is
 * stored as one deleted range, however long.
 */
export const MAX_INDIVIDUAL_TASK_DELETES = 100_000;

export class TaskRangeTooLargeError extends Error {
  constructor(
    readonly jobId: number,
    readonly count: number,
  ) {
    super(
      `denied: deleting ${count} never-started tasks of job ${jobId} picked by a step would store a row for each ` +
        `(at most ${MAX_INDIVIDUAL_TASK_DELETES}); delete a range without a step (-t FIRST-LAST) or the whole job`,
    );
    this.name = 'TaskRangeTooLargeError';
  }
}

type Statements = ReturnType<typeof statementCache>;

/**
 * Deletes the never-dispatched tasks of `job` that `tasks` selects (inside the caller's
 * transaction) and returns how many there were. Array jobs are one row plus a cursor
 * (`next_task`: ids below it have rows or were deleted before dispatch). A selection covering
 * every id from the cursor to the end moves the cursor past `last_task`; one covering a run of
 * consecutive ids further on is stored as a deleted range (skipped by the dispatch cursor), so
 * `qdel -t 11-2000000000` on a two-billion-task array costs the same as deleting one task.
 */
export function deleteUndispatched(q: Statements, reader: JobReader, job: JobRow, tasks: TaskRange): number {
  if (job.next_task > job.last_task) return 0;
  const before = reader.undispatchedCount(job);
  const start = alignUp(job, Math.max(job.next_task, tasks.first));
  const end = Math.min(job.last_task, tasks.last);
  if (start > end) return 0;
  if (selectsEveryId(job, tasks, start)) {
    // Down to the last id of the job inside the selection.
    addDeletedRange(q, reader, job, start, end - ((end - job.first_task) % job.step));
  } else {
    deleteOneByOne(q, job, tasks, start, end);
  }
  return before - reader.undispatchedCount(job);
}

/** Does `tasks` select every id of the job from `start` on (within its bounds)? */
function selectsEveryId(job: JobRow, tasks: TaskRange, start: number): boolean {
  if (tasks.step === 1) return true;
  // Every id start + k·job.step must be tasks.first + m·tasks.step.
  return job.step % tasks.step === 0 && (start - tasks.first) % tasks.step === 0;
}

/**
 * Records [first, last] as deleted, merged with the ranges it overlaps or touches (ranges stay
 * disjoint and never adjacent). A range that reaches the cursor moves the cursor past it
 * instead: the cursor never points into a deleted range.
 */
function addDeletedRange(q: Statements, reader: JobReader, job: JobRow, first: number, last: number): void {
  let merged = { first, last };
  for (const r of reader.deletedRanges(job.id)) {
    if (r.first > merged.last + job.step || r.last + job.step < merged.first) continue;
    merged = { first: Math.min(merged.first, r.first), last: Math.max(merged.last, r.last) };
    q('DELETE FROM deleted_ranges WHERE job_id = ? AND first = ?').run(job.id, r.first);
  }
  if (merged.first <= job.next_task) {
    job.next_task = merged.last + job.step;
    q('UPDATE jobs SET next_task = ? WHERE id = ?').run(job.next_task, job.id);
    return;
  }
  q('INSERT INTO deleted_ranges (job_id, first, last) VALUES (?, ?, ?)').run(job.id, merged.first, merged.last);
}

/** A stepped selection: a `deleted` row per id, bounded. */
function deleteOneByOne(q: Statements, job: JobRow, tasks: TaskRange, start: number, end: number): void {
  const span = Math.floor((end - start) / job.step) + 1;
  if (span > MAX_INDIVIDUAL_TASK_DELETES) throw new TaskRangeTooLargeError(job.id, span);
  const range: TaskRange = { first: job.first_task, last: job.last_task, step: job.step };
  const insert = q(`INSERT OR IGNORE INTO tasks (job_id, task_id, state) VALUES (?, ?, ${sqlList([TaskState.Deleted])})`);
  for (let id = start; id <= end; id += job.step) {
    if (rangeHas(range, id) && rangeHas(tasks, id)) insert.run(job.id, id);
  }
}
