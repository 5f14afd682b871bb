import { TaskState } from '../states.js';
import { JOB_LIST_COLUMNS, type JobListRow } from './job-reader.js';
import { perDatabase, StoreReader } from './store-reader.js';
import { HELD_TASKS, REQUEUED_TASKS } from './sql-states.js';
import { sqlLimit } from './database.js';

/** A task that holds a lease, with where and since when its current attempt runs. */
export interface ActiveTaskRow {
  task_id: number;
  state: string;
  attempts: number;
  delete_requested: number;
  started_at: number | null;
  leased_at: number;
  hostname: string;
  group_name: string;
  /** The attempt's last usage report (JSON), or null before the first. */
  usage: string | null;
}

/** A finished task that failed, with the reason its agent gave. */
export interface TaskFailureRow {
  task_id: number;
  ended_at: number | null;
  failed_reason: string;
}

/** `qstat -s z` shows the newest this many finished jobs (SGE keeps `finished_jobs 100`). */
const FINISHED_JOBS_SHOWN = 100;

/**
 * Which jobs have tasks on hosts, tasks requeued, or predecessors (`-hold_jid`, `-hold_jid_ad`):
 * four queries for the whole queue, so that a list of 10,000 jobs asks these per job only of the
 * few that have any.
 */
export interface QueueFacts {
  withActiveTasks: ReadonlySet<number>;
  withRequeuedTasks: ReadonlySet<number>;
  withPredecessors: ReadonlySet<number>;
  withTaskPredecessors: ReadonlySet<number>;
}

/** Read-only queries behind `qstat` and `qstat -j`. */
export class QstatReader extends StoreReader {
  queueFacts(): QueueFacts {
    const ids = (sql: string): Set<number> => new Set(this.q(sql).pluck().all() as number[]);
    return {
      withActiveTasks: ids(`SELECT DISTINCT job_id FROM tasks WHERE state IN (${HELD_TASKS})`),
      withRequeuedTasks: ids(`SELECT DISTINCT job_id FROM tasks WHERE state IN (${REQUEUED_TASKS})`),
      withPredecessors: ids('SELECT DISTINCT job_id FROM job_deps WHERE per_task = 0'),
      withTaskPredecessors: ids('SELECT DISTINCT job_id FROM job_deps WHERE per_task = 1'),
    };
  }

  /** Unfinished jobs by id; `owners` limits them to those users' jobs. */
  unfinishedJobs(owners?: readonly string[]): JobListRow[] {
    return this.q(`SELECT ${JOB_LIST_COLUMNS} FROM jobs WHERE finished = 0 ${ownerClause(owners)} ORDER BY id`).all(...(owners ?? [])) as JobListRow[];
  }

  /** The newest finished jobs, newest first; `owners` limits them to those users' jobs. */
  finishedJobs(owners?: readonly string[]): JobListRow[] {
    return this.q(`SELECT ${JOB_LIST_COLUMNS} FROM jobs WHERE finished = 1 ${ownerClause(owners)} ORDER BY id DESC LIMIT ${FINISHED_JOBS_SHOWN}`).all(
      ...(owners ?? []),
    ) as JobListRow[];
  }

  /** The job's tasks that hold a lease, by task id. */
  activeTasks(jobId: number): ActiveTaskRow[] {
    return this.q(
      `SELECT t.task_id, t.state, t.attempts, t.delete_requested, a.started_at, a.leased_at, a.hostname, a.group_name, a.usage
       FROM tasks t JOIN attempts a ON a.id = t.attempt_id
       WHERE t.job_id = ? AND t.state IN (${HELD_TASKS}) ORDER BY t.task_id`,
    ).all(jobId) as ActiveTaskRow[];
  }

  /** Ids of the job's tasks waiting to run again (their host was lost), ascending. */
  requeuedIds(jobId: number): number[] {
    return this.q(`SELECT task_id FROM tasks WHERE job_id = ? AND state = '${TaskState.Pending}' ORDER BY task_id`).pluck().all(jobId) as number[];
  }

  /** The `-hold_jid_ad` jobs of a job, finished or not. */
  perTaskHoldJobs(jobId: number): number[] {
    return this.q('SELECT depends_on FROM job_deps WHERE job_id = ? AND per_task = 1 ORDER BY depends_on').pluck().all(jobId) as number[];
  }

  /** Unfinished jobs that wait for this one, whole-job (0) or per task (1). */
  successors(jobId: number, perTask: 0 | 1): number[] {
    return this.q(
      'SELECT d.job_id FROM job_deps d JOIN jobs j ON j.id = d.job_id WHERE d.depends_on = ? AND d.per_task = ? AND j.finished = 0 ORDER BY d.job_id',
    )
      .pluck()
      .all(jobId, perTask) as number[];
  }

  /** The newest `limit` failed tasks of the job that have a reason, newest first. */
  taskFailures(jobId: number, limit: number): TaskFailureRow[] {
    return this.q(
      `SELECT t.task_id, a.ended_at, a.failed_reason FROM tasks t JOIN attempts a ON a.id = t.attempt_id
       WHERE t.job_id = ? AND t.state = '${TaskState.Done}' AND t.failed_code != 0 AND a.failed_reason != ''
       ORDER BY a.ended_at DESC ${sqlLimit(limit)}`,
    ).all(jobId) as TaskFailureRow[];
  }
}

function ownerClause(owners: readonly string[] | undefined): string {
  return owners ? `AND owner IN (${owners.map(() => '?').join(',')})` : '';
}

/** The store's qstat reader, one per database. */
export const qstatReader = perDatabase((db) => new QstatReader(db));
