import { TaskState } from '../states.js';
import type { JobRow } from './job-reader.js';
import { perDatabase, StoreReader } from './store-reader.js';

/** Which jobs the dashboard's job table shows; every field given narrows them. */
export interface JobListFilter {
  user?: string | undefined;
  group?: string | undefined;
  /** active (default), finished or all. */
  state?: string | undefined;
  /** A part of the job name. */
  search?: string | undefined;
}

/** How many of a job's task rows are in one state, and how many of the done ones failed. */
export interface TaskStateCountRow {
  job_id: number;
  state: string;
  n: number;
  bad: number;
}

/** When a job's first attempt started (or was leased, if none started yet). */
export interface JobStartRow {
  job_id: number;
  t: number;
}

/** A stored task row of a task page, with its current attempt (absent before its first lease). */
export interface TaskPageDbRow {
  task_id: number;
  state: string;
  attempts: number;
  exit_status: number | null;
  hostname: string | null;
  started_at: number | null;
  leased_at: number | null;
  ended_at: number | null;
  failed_reason: string | null;
  usage: string | null;
}

/**
 * Read-only queries behind the dashboard's paged tables: a page of jobs with their task counts,
 * and a page of one job's tasks. Each reads only the page's rows.
 */
export class WebReader extends StoreReader {
  /** How many jobs pass the filter. */
  jobCount(filter: JobListFilter): number {
    const { clause, args } = jobWhere(filter);
    return this.q(`SELECT COUNT(*) FROM jobs ${clause}`).pluck().get(...args) as number;
  }

  /**
   * One page of the jobs that pass the filter, newest first. The page is bound, not written
   * into the SQL (sqlLimit): it comes from the browser, and every value would be a statement.
   */
  jobPage(filter: JobListFilter, offset: number, limit: number): JobRow[] {
    const { clause, args } = jobWhere(filter);
    return this.q(`SELECT * FROM jobs ${clause} ORDER BY id DESC LIMIT ? OFFSET ?`).all(...args, limit, offset) as JobRow[];
  }

  /** Task rows per job and state, for the jobs of one page. */
  taskStateCounts(jobIds: readonly number[]): TaskStateCountRow[] {
    return this.q(
      `SELECT job_id, state, COUNT(*) AS n, SUM(CASE WHEN state = '${TaskState.Done}' AND (COALESCE(exit_status, 0) <> 0 OR COALESCE(failed_code, 0) <> 0) THEN 1 ELSE 0 END) AS bad
       FROM tasks WHERE job_id IN (${marks(jobIds)}) GROUP BY job_id, state`,
    ).all(...jobIds) as TaskStateCountRow[];
  }

  /** When each job of one page started; jobs that never had an attempt are absent. */
  jobStarts(jobIds: readonly number[]): JobStartRow[] {
    return this.q(`SELECT job_id, MIN(COALESCE(started_at, leased_at)) AS t FROM attempts WHERE job_id IN (${marks(jobIds)}) GROUP BY job_id`).all(
      ...jobIds,
    ) as JobStartRow[];
  }

  /** The stored task rows of a job with ids in [first, last] (tasks never dispatched have none). */
  taskPage(jobId: number, first: number, last: number): TaskPageDbRow[] {
    return this.q(
      `SELECT t.task_id, t.state, t.attempts, t.exit_status, a.hostname, a.started_at, a.leased_at, a.ended_at, a.failed_reason, a.usage
       FROM tasks t LEFT JOIN attempts a ON a.id = t.attempt_id
       WHERE t.job_id = ? AND t.task_id BETWEEN ? AND ?`,
    ).all(jobId, first, last) as TaskPageDbRow[];
  }
}

function jobWhere(filter: JobListFilter): { clause: string; args: (string | number)[] } {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (filter.state === 'finished') where.push('finished = 1');
  else if (filter.state !== 'all') where.push('finished = 0');
  if (filter.user) (where.push('owner = ?'), args.push(filter.user));
  if (filter.group) (where.push(`COALESCE(queue, 'default') = ?`), args.push(filter.group));
  if (filter.search) (where.push(`instr(lower(name), lower(?)) > 0`), args.push(filter.search));
  return { clause: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
}

/** `?, ?, ?` for an IN list; a page holds at most a few hundred jobs, so few distinct statements. */
function marks(ids: readonly number[]): string {
  return ids.map(() => '?').join(',');
}

/** The store's dashboard reader, one per database. */
export const webReader = perDatabase((db) => new WebReader(db));
