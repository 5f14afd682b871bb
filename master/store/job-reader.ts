import { type Db, sqlLimit, statementCache } from './database.js';
import type { TaskRange } from '../../protocol/job-spec.js';
import { rangeHas } from '../../protocol/task-ranges.js';
import { TaskState } from '../states.js';
import { LIVE_JOB, REQUEUED_TASKS } from './sql-states.js';

/** A row of the jobs table, as stored. */
export interface JobRow {
  id: number;
  name: string;
  owner: string;
  spec: string;
  submit_time: number;
  priority: number;
  queue: string | null;
  slots: number;
  is_array: number;
  first_task: number;
  last_task: number;
  step: number;
  next_task: number;
  user_hold: number;
  deleted: number;
  finished: number;
  finish_time: number | null;
  /** qsub -r: 1 (y, the default) or 0 (n, a started task is not rerun when its host is lost). */
  rerun: number;
  /** qsub -a: no task starts before this (ms since the epoch); null: at once. */
  start_after: number | null;
}

/** A jobs row without its submission (`spec`: with `qsub -V` kilobytes of environment a job): what lists and cursors need. */
export type JobListRow = Omit<JobRow, 'spec'>;

/** What says whether a job's tasks are all dispatched: its range, cursor and end marks. */
export type JobCursorRow = Pick<JobRow, 'id' | 'first_task' | 'last_task' | 'step' | 'next_task' | 'deleted' | 'finished'>;

/** Every column of jobs but `spec`, for queries that read many jobs (qstat read 10,000 specs for nothing). */
export const JOB_LIST_COLUMNS = 'id, name, owner, submit_time, priority, queue, slots, is_array, first_task, last_task, step, next_task, user_hold, deleted, finished, finish_time, rerun, start_after';

/** JOB_LIST_COLUMNS of the jobs table aliased as `alias`. */
const jobListColumnsOf = (alias: string): string => JOB_LIST_COLUMNS.split(', ').map((column) => `${alias}.${column}`).join(', ');
/** Made once: the statements below are looked up by their text on every call (a lease asks for gates). */
const J_COLUMNS = jobListColumnsOf('j');
const P_COLUMNS = jobListColumnsOf('p');
const LIST_ROW_BY_ID = `SELECT ${JOB_LIST_COLUMNS} FROM jobs WHERE id = ?`;
const CURSOR_ROW_BY_ID = 'SELECT id, first_task, last_task, step, next_task, deleted, finished FROM jobs WHERE id = ?';
const LIVE_JOB_ROWS = `SELECT ${JOB_LIST_COLUMNS} FROM jobs WHERE ${LIVE_JOB}`;

/** The runnable test of runnableJobs for `jobs j` (one parameter: now). */
const RUNNABLE = `j.deleted = 0 AND j.user_hold = 0
  AND (j.start_after IS NULL OR j.start_after <= ?)
  AND NOT EXISTS (SELECT 1 FROM job_deps d JOIN jobs p ON p.id = d.depends_on
                  WHERE d.job_id = j.id AND d.per_task = 0 AND p.finished = 0)
  AND (j.next_task <= j.last_task
       OR EXISTS (SELECT 1 FROM tasks t WHERE t.job_id = j.id AND t.state IN (${REQUEUED_TASKS})))`;

/** Read-only queries about jobs and their task ranges, shared by transitions, scheduler and views. */
export class JobReader {
  private readonly q: ReturnType<typeof statementCache>;

  constructor(db: Db) {
    this.q = statementCache(db);
  }

  /** The job's submission as stored (JSON), or undefined when there is no such job. */
  spec(jobId: number): string | undefined {
    return this.q('SELECT spec FROM jobs WHERE id = ?').pluck().get(jobId) as string | undefined;
  }

  ownerOf(jobId: number): string | undefined {
    return this.q('SELECT owner FROM jobs WHERE id = ?').pluck().get(jobId) as string | undefined;
  }

  job(jobId: number): JobRow | undefined {
    return this.q('SELECT * FROM jobs WHERE id = ?').get(jobId) as JobRow | undefined;
  }

  /** The job without its submission: what a result's commit needs (with `qsub -V` the spec is kilobytes of environment). */
  listRow(jobId: number): JobListRow | undefined {
    return this.q(LIST_ROW_BY_ID).get(jobId) as JobListRow | undefined;
  }

  /** The job's range and cursor only: what a result's commit asks of its job (18 columns were ~2 µs more per result). */
  cursorRow(jobId: number): JobCursorRow | undefined {
    return this.q(CURSOR_ROW_BY_ID).get(jobId) as JobCursorRow | undefined;
  }

  jobsByName(name: string): JobRow[] {
    return this.q('SELECT * FROM jobs WHERE name = ? ORDER BY id').all(name) as JobRow[];
  }

  /** Ids of a user's unfinished jobs (`qdel -u`), ascending. */
  unfinishedIdsOf(owner: string): number[] {
    return this.q('SELECT id FROM jobs WHERE finished = 0 AND owner = ? ORDER BY id').pluck().all(owner) as number[];
  }

  /** Ranges of never-dispatched ids deleted without rows (master/store/undispatched-delete.ts), by first id. */
  deletedRanges(jobId: number): DeletedRange[] {
    return this.q('SELECT first, last FROM deleted_ranges WHERE job_id = ? ORDER BY first').all(jobId) as DeletedRange[];
  }

  /** Task ids at or past the cursor that have no row yet and are in no deleted range. */
  undispatchedCount(job: Omit<JobCursorRow, 'finished'>): number {
    if (job.deleted || job.next_task > job.last_task) return 0;
    const inRange = idsBetween(job, job.next_task, job.last_task);
    const withRows = this
      .q('SELECT COUNT(*) FROM tasks WHERE job_id = ? AND task_id >= ?')
      .pluck()
      .get(job.id, job.next_task) as number;
    const ranges = this.deletedRanges(job.id);
    if (ranges.length === 0) return inRange - withRows;
    let inDeletedRanges = 0;
    for (const r of ranges) inDeletedRanges += idsBetween(job, Math.max(r.first, job.next_task), r.last);
    // Rows inside a deleted range (tasks dispatched ahead of the cursor) were subtracted twice.
    const rowsInRanges = this
      .q('SELECT COUNT(*) FROM tasks t JOIN deleted_ranges r ON r.job_id = t.job_id AND t.task_id BETWEEN r.first AND r.last WHERE t.job_id = ? AND t.task_id >= ?')
      .pluck()
      .get(job.id, job.next_task) as number;
    return inRange - withRows - inDeletedRanges + rowsInRanges;
  }

  /** Undispatched task ids (up to `limit`), for display. */
  undispatchedIds(job: JobListRow, limit: number): number[] {
    if (job.deleted) return [];
    const rows = new Set(
      this.q('SELECT task_id FROM tasks WHERE job_id = ? AND task_id >= ?').pluck().all(job.id, job.next_task) as number[],
    );
    const skip = rangeSkipper(job, this.deletedRanges(job.id));
    const ids: number[] = [];
    for (let id = skip(job.next_task); id <= job.last_task && ids.length < limit; id = skip(id + job.step)) if (!rows.has(id)) ids.push(id);
    return ids;
  }

  /** Ids of `range` that are also in `filter`. */
  idsIn(range: TaskRange, filter: TaskRange, limit: number): number[] {
    const out: number[] = [];
    // Walk the job's own ids inside the filter's bounds, and never more than a bounded number
    // of them: `qdel -t 1-2000000000` must not loop two billion times to print 1000 lines.
    const start = Math.max(range.first, filter.first);
    const first = start + ((range.step - ((start - range.first) % range.step)) % range.step);
    const end = Math.min(range.last, filter.last);
    let visited = 0;
    for (let id = first; id <= end && out.length < limit && visited < 1_000_000; id += range.step, visited++) {
      if (rangeHas(filter, id)) out.push(id);
    }
    return out;
  }

  /**
   * Jobs that could start a task now: not finished, deleted or held, start time (`qsub -a`)
   * reached, dependencies done, work left; in the scheduler's order (priority, then submission).
   * `after`: the next page, after this job (a pass reads a page at a time, so 10,000 queued jobs
   * cost it what the few it places cost).
   */
  runnableJobs(limit: number, now = Date.now(), after?: Pick<JobListRow, 'id' | 'priority' | 'submit_time'>): JobListRow[] {
    // The scheduler's order as a row value: after `after` is a lower priority, a later submission or a higher id.
    const keyset = after ? 'AND (j.priority, -j.submit_time, -j.id) < (?, ?, ?)' : '';
    const keys = after ? [after.priority, -after.submit_time, -after.id] : [];
    return this.q(`SELECT ${J_COLUMNS} FROM jobs j WHERE j.finished = 0 ${keyset} AND ${RUNNABLE} ORDER BY j.priority DESC, j.submit_time, j.id ${sqlLimit(limit)}`).all(
      ...keys,
      now,
    ) as JobListRow[];
  }

  /** The earliest `qsub -a` start time still in the future of a job that may run, or null. */
  nextStartAfter(now = Date.now()): number | null {
    return this
      .q(
        // The planner would rather walk jobs_active (every unfinished job) than this index of the few with a start time.
        `SELECT MIN(start_after) FROM jobs INDEXED BY jobs_start_after
         WHERE start_after IS NOT NULL AND start_after > ? AND ${LIVE_JOB}`,
      )
      .pluck()
      .get(now) as number | null;
  }

  /** Pending work of every job that has neither finished nor been deleted (/health, /metrics). */
  pendingTaskCount(): number {
    const live = this.q(LIVE_JOB_ROWS).all() as JobListRow[];
    return live.reduce((sum, job) => sum + this.pendingCount(job), 0);
  }

  /** Pending work of a job: requeued rows plus undispatched ids. */
  pendingCount(job: JobListRow): number {
    const requeued = this
      .q(`SELECT COUNT(*) FROM tasks WHERE job_id = ? AND state IN (${REQUEUED_TASKS})`)
      .pluck()
      .get(job.id) as number;
    return requeued + this.undispatchedCount(job);
  }

  /** Unfinished jobs this job still waits for. */
  waitingFor(jobId: number): number[] {
    return this
      .q(
        `SELECT d.depends_on FROM job_deps d JOIN jobs p ON p.id = d.depends_on
         WHERE d.job_id = ? AND d.per_task = 0 AND p.finished = 0 ORDER BY d.depends_on`,
      )
      .pluck()
      .all(jobId) as number[];
  }

  holdJobs(jobId: number): number[] {
    return this.q('SELECT depends_on FROM job_deps WHERE job_id = ? ORDER BY depends_on').pluck().all(jobId) as number[];
  }

  /**
   * `-hold_jid_ad` predecessors of a job that have not finished: task N of the job may start
   * only when task N of each of these has finished (or never will run: deleted, or not in its range).
   */
  taskGates(jobId: number): JobListRow[] {
    return this.q(
      `SELECT ${P_COLUMNS} FROM job_deps d JOIN jobs p ON p.id = d.depends_on
       WHERE d.job_id = ? AND d.per_task = 1 AND p.finished = 0 ORDER BY p.id`,
    ).all(jobId) as JobListRow[];
  }

  taskReady(gates: readonly JobListRow[], taskId: number): boolean {
    for (const gate of gates) {
      if (!rangeHas({ first: gate.first_task, last: gate.last_task, step: gate.step }, taskId)) continue;
      const state = this.q('SELECT state FROM tasks WHERE job_id = ? AND task_id = ?').pluck().get(gate.id, taskId) as string | undefined;
      if (state === TaskState.Done || state === TaskState.Deleted) continue;
      if (state === undefined && gate.deleted) continue;
      return false;
    }
    return true;
  }
}

/** A run of a job's ids deleted before dispatch; both bounds are ids of the job. */
export interface DeletedRange {
  first: number;
  last: number;
}

/** How many ids of the job (first_task + k·step) lie in [from, to]. */
export function idsBetween(job: Pick<JobRow, 'first_task' | 'step'>, from: number, to: number): number {
  const first = alignUp(job, from);
  return first > to ? 0 : Math.floor((to - first) / job.step) + 1;
}

/** The smallest id of the job that is ≥ `id`. */
export function alignUp(job: Pick<JobRow, 'first_task' | 'step'>, id: number): number {
  if (id <= job.first_task) return job.first_task;
  return id + ((job.step - ((id - job.first_task) % job.step)) % job.step);
}

/**
 * For walking ids in increasing order: maps an id to itself, or, when it lies in a deleted
 * range, to the first id of the job past that range. `ranges` sorted by first, disjoint.
 */
export function rangeSkipper(job: Pick<JobRow, 'first_task' | 'step'>, ranges: readonly DeletedRange[]): (id: number) => number {
  let i = 0;
  return (id: number): number => {
    while (i < ranges.length && ranges[i]!.last < id) i++;
    const r = ranges[i];
    return r && r.first <= id ? r.last + job.step : id;
  };
}
