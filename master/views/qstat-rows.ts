import type { QstatRow, QstatState } from '../../protocol/api.js';
import { formatTaskIds } from '../../protocol/task-ranges.js';
import type { Db } from '../store/database.js';
import type { JobListRow, JobReader } from '../store/job-reader.js';
import { qstatReader, type ActiveTaskRow, type QstatReader, type QueueFacts } from '../store/qstat-reader.js';
import { TaskState } from '../states.js';

/** SGE's `prior` column: -p 0 shows as 0.50000; the scale maps -1023..1024 onto 0..1. */
export function normalisedPriority(priority: number): number {
  return Math.round(((priority + 1024) / 2048) * 100000) / 100000;
}

/** At most this many pending ids are enumerated for one row; beyond that the range is summarised. */
const MAX_LISTED_IDS = 10000;

/** A job's waiting tasks as one qstat line, with what orders it among the others. */
type PendingRow = QstatRow & { priority: number; submit: number };

/** Rows of `qstat`: running tasks first (by job and task), then pending groups by priority. */
export function qstatRows(db: Db, reader: JobReader, options: { user?: string; includeFinished: boolean }): QstatRow[] {
  // `user` is one name or a comma list (qstat -u a,b); '*' or nothing means everyone.
  const users = (options.user ?? '').split(',').filter((u) => u !== '');
  const userFilter = users.length > 0 && !users.includes('*') ? users : undefined;
  const store = qstatReader(db);
  const running: QstatRow[] = [];
  const pending: PendingRow[] = [];
  const facts = store.queueFacts();
  for (const job of store.unfinishedJobs(userFilter)) {
    const rows = jobRows(store, reader, job, facts);
    running.push(...rows.running);
    if (rows.pending) pending.push(rows.pending);
  }
  pending.sort((a, b) => b.priority - a.priority || a.submit - b.submit || a.jobId - b.jobId);
  const rows: QstatRow[] = [...running, ...pending.map(({ priority: _p, submit: _s, ...row }) => row)];
  if (options.includeFinished) rows.push(...finishedRows(store.finishedJobs(userFilter)));
  return rows;
}

/**
 * Whether plain `qstat` shows the job: SGE's `qstat -j` answers only for those ("Following jobs
 * do not exist" once a job has finished), and workflow engines' status scripts rely on it.
 */
export function listedByQstat(db: Db, reader: JobReader, job: JobListRow): boolean {
  if (job.finished) return false;
  const rows = jobRows(qstatReader(db), reader, job);
  return rows.running.length > 0 || rows.pending !== undefined;
}

/**
 * An unfinished job's lines: a line per task on a host, and one for what still waits, if anything
 * does. `facts` (of the whole queue) spare the queries that would find nothing.
 */
function jobRows(store: QstatReader, reader: JobReader, job: JobListRow, facts?: QueueFacts): { running: QstatRow[]; pending?: PendingRow } {
  const may = (set: keyof QueueFacts): boolean => facts === undefined || facts[set].has(job.id);
  const base = { jobId: job.id, prior: normalisedPriority(job.priority), name: job.name, owner: job.owner, slots: job.slots };
  const running = (may('withActiveTasks') ? store.activeTasks(job.id) : []).map((t) => ({
    ...base,
    state: runningState(t),
    time: t.started_at ?? t.leased_at,
    queue: `${t.group_name}@${t.hostname}`,
    tasks: job.is_array ? String(t.task_id) : '',
  }));
  if (job.deleted) return { running };
  const requeued = may('withRequeuedTasks') ? store.requeuedIds(job.id) : [];
  const undispatched = reader.undispatchedCount(job);
  if (requeued.length + undispatched === 0) return { running };
  const gates = may('withTaskPredecessors') ? reader.taskGates(job.id) : [];
  const firstPending = gates.length > 0 ? (requeued[0] ?? reader.undispatchedIds(job, 1)[0]) : undefined;
  const gated = firstPending !== undefined && !reader.taskReady(gates, firstPending);
  const held = job.user_hold === 1 || (may('withPredecessors') && reader.waitingFor(job.id).length > 0) || gated;
  return {
    running,
    pending: {
      ...base,
      state: held ? 'hqw' : 'qw',
      time: job.submit_time,
      queue: '',
      tasks: job.is_array ? pendingTaskList(reader, job, requeued, undispatched) : '',
      priority: job.priority,
      submit: job.submit_time,
    },
  };
}

function runningState(t: ActiveTaskRow): QstatState {
  const leasedOnly = t.state === TaskState.Leased;
  if (t.delete_requested) return leasedOnly ? 'dt' : 'dr';
  if (leasedOnly) return 't';
  return t.attempts > 1 ? 'Rr' : 'r';
}

function pendingTaskList(reader: JobReader, job: JobListRow, requeued: number[], undispatched: number): string {
  const contiguous = requeued.length === 0 && undispatched === Math.floor((job.last_task - job.next_task) / job.step) + 1;
  if (contiguous) return undispatched === 1 ? String(job.next_task) : `${job.next_task}-${job.last_task}:${job.step}`;
  const ids = [...requeued, ...reader.undispatchedIds(job, MAX_LISTED_IDS)].sort((a, b) => a - b);
  return formatTaskIds(ids);
}

/** `qstat -s z`: the most recent finished jobs (SGE keeps `finished_jobs 100`). */
function finishedRows(newestFirst: JobListRow[]): QstatRow[] {
  return newestFirst.reverse().map((job) => ({
    jobId: job.id,
    prior: normalisedPriority(job.priority),
    name: job.name,
    owner: job.owner,
    state: 'z' as const,
    time: job.submit_time,
    queue: '',
    slots: job.slots,
    tasks: job.is_array ? `${job.first_task}-${job.last_task}:${job.step}` : '',
  }));
}
