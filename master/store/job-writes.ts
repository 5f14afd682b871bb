import type { JobSubmission, TaskRange } from '../../protocol/job-spec.js';
import { runTransaction } from './database.js';
import { rangeHas } from '../../protocol/task-ranges.js';
import { AttemptState, TaskState } from '../states.js';
import { type Actor, checkOwner } from './ownership.js';
import { sqlList, UNFINISHED_TASKS } from './sql-states.js';
import { deleteUndispatched } from './undispatched-delete.js';
import { announceJobFinished, endAttemptWithoutResult, finishJobIfDone, requireJob, type WriteContext } from './write-context.js';

/**
 * Writes of the jobs and job_deps tables, and of the tasks a job-level verb (qdel, the
 * dashboard's rerun) changes: each a named function in one transaction. They return what
 * happened as data; master/api/sge-replies.ts words it the way SGE 8.1.9 does.
 */

/** Most task ids an outcome lists one by one (`qdel -t` of a huge range prints the first ones). */
export const LISTED_TASKS_LIMIT = 1000;

/** What `qhold`/`qrls` changed: for an array, the tasks still waiting (SGE names each). */
export interface HoldOutcome {
  jobId: number;
  /** Waiting tasks of an array job, sorted; empty for a plain job. */
  waitingTasks: number[];
}

/** What the dashboard's "rerun failed tasks" did. */
export interface RerunOutcome {
  jobId: number;
  /** The job was deleted: nothing is rerun. */
  deleted: boolean;
  rerun: number;
}

export type JobChanges = { name?: string; priority?: number; queue?: string; holdJobs?: string[]; slots?: number; resources?: JobSubmission['resources'] };

/** What `qalter` changed, and (when the hold list changed) the jobs the job now waits for. */
export interface AlterOutcome {
  jobId: number;
  changes: JobChanges;
  /** Unfinished jobs it waits for after a -hold_jid change. */
  blocking: number[];
}

/** What `qdel` did to one job, and the attempts whose agents must kill them. */
export interface DeleteOutcome {
  jobId: number;
  isArray: boolean;
  /** `qdel -t`: the task ids asked for. */
  tasks: TaskRange | undefined;
  /** Tasks that will never run (pending, never dispatched, or running on a host that is gone). */
  deleted: number;
  /** Running tasks marked for deletion whose kill is under way, sorted. */
  registered: number[];
  /** With `tasks` on an array: the job's ids in the selection (up to LISTED_TASKS_LIMIT). */
  selected: number[];
  kill: { attemptId: string; agentId: string }[];
}

export class JobWrites {
  constructor(private readonly ctx: WriteContext) {}

  /** Stores a new job; its -hold_jid references are resolved to job ids now, as SGE does. */
  submitJob(sub: JobSubmission): { jobId: number; dependsOn: number[] } {
    const { db, q, clock, events } = this.ctx;
    const range: TaskRange = sub.array ?? { first: 1, last: 1, step: 1 };
    const result = runTransaction(db, () => {
      const dependsOn = this.resolveHoldJobs(sub.holdJobs);
      const info = q(
        `INSERT INTO jobs (name, owner, spec, submit_time, priority, queue, slots, is_array,
                           first_task, last_task, step, next_task, user_hold, rerun, start_after)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        sub.name,
        sub.submitter.user,
        JSON.stringify(sub),
        clock.now(),
        sub.priority,
        sub.queue ?? null,
        sub.slots,
        sub.array ? 1 : 0,
        range.first,
        range.last,
        range.step,
        range.first,
        sub.hold ? 1 : 0,
        // qsub -r n; absent means -r y.
        sub.rerun === false ? 0 : 1,
        // qsub -a; absent means now.
        sub.startAfter ?? null,
      );
      const jobId = Number(info.lastInsertRowid);
      this.insertDeps(jobId, dependsOn, this.resolveHoldJobs(sub.holdJobsArray ?? []));
      return { jobId, dependsOn };
    });
    events.emit('job:submitted', result.jobId);
    events.emit('schedule:wanted', `job ${result.jobId} submitted`);
    return result;
  }

  /** Whole-job dependencies first: where a job is both, the whole-job wait subsumes the per-task one. */
  private insertDeps(jobId: number, wholeJob: readonly number[], perTask: readonly number[]): void {
    const insertDep = this.ctx.q('INSERT OR IGNORE INTO job_deps (job_id, depends_on, per_task) VALUES (?, ?, ?)');
    for (const dep of wholeJob) if (dep !== jobId) insertDep.run(jobId, dep, 0);
    for (const dep of perTask) if (dep !== jobId) insertDep.run(jobId, dep, 1);
  }

  /**
   * `-hold_jid` entries are job ids or names. A name holds on every unfinished job of that
   * name; an id of a job that no longer exists (or never did) holds on nothing, as in SGE.
   */
  private resolveHoldJobs(refs: readonly string[]): number[] {
    const ids = new Set<number>();
    for (const ref of refs) {
      if (/^\d+$/.test(ref)) {
        ids.add(Number(ref));
        continue;
      }
      const rows = this.ctx.q('SELECT id FROM jobs WHERE name = ? AND finished = 0').all(ref) as { id: number }[];
      for (const row of rows) ids.add(row.id);
    }
    return [...ids];
  }

  setUserHold(jobId: number, requester: Actor, hold: boolean): HoldOutcome {
    const { q, reader, events } = this.ctx;
    const job = requireJob(this.ctx, jobId);
    checkOwner(job, requester, 'hold');
    q('UPDATE jobs SET user_hold = ? WHERE id = ?').run(hold ? 1 : 0, jobId);
    if (!hold) events.emit('schedule:wanted', `job ${jobId} released`);
    const requeued = job.is_array ? (q(`SELECT task_id FROM tasks WHERE job_id = ? AND state = ${sqlList([TaskState.Pending])}`).pluck().all(jobId) as number[]) : [];
    const waitingTasks = job.is_array ? [...requeued, ...reader.undispatchedIds(job, LISTED_TASKS_LIMIT)].sort((a, b) => a - b) : [];
    return { jobId, waitingTasks };
  }

  /**
   * The dashboard's "rerun failed tasks": tasks that ended with a non-zero exit or failed code go
   * back to the queue (their finished attempts stay in the history and accounting, as a rerun
   * does in SGE), and a finished job becomes unfinished again. Deleted jobs are not revived.
   * A rerun task starts with a fresh node-failure and host-loss budget: a person asked for it.
   */
  rerunFailedTasks(jobId: number, requester: Actor): RerunOutcome {
    const { db, q, events } = this.ctx;
    const job = requireJob(this.ctx, jobId);
    checkOwner(job, requester, 'clear');
    if (job.deleted) return { jobId, deleted: true, rerun: 0 };
    const rerun = runTransaction(db, (): number => {
      const count = q(
        `UPDATE tasks SET state = ${sqlList([TaskState.Pending])}, exit_status = NULL, failed_code = NULL, node_failures = 0, host_losses = 0
         WHERE job_id = ? AND state = ${sqlList([TaskState.Done])} AND (COALESCE(exit_status, 0) <> 0 OR COALESCE(failed_code, 0) <> 0)`,
      ).run(jobId).changes;
      if (count > 0) q('UPDATE jobs SET finished = 0, finish_time = NULL WHERE id = ?').run(jobId);
      return count;
    });
    if (rerun > 0) events.emit('schedule:wanted', `${rerun} failed task(s) of job ${jobId} rerun by ${requester.user}`);
    return { jobId, deleted: false, rerun };
  }

  /** `qalter`: changes what has not started yet; running tasks keep what they were started with. */
  alterJob(jobId: number, requester: Actor, changes: JobChanges): AlterOutcome {
    const { db, q, reader, events } = this.ctx;
    const job = requireJob(this.ctx, jobId);
    checkOwner(job, requester, 'alter');
    runTransaction(db, () => {
      const spec = JSON.parse(job.spec) as JobSubmission;
      if (changes.name !== undefined) spec.name = changes.name;
      if (changes.priority !== undefined) spec.priority = changes.priority;
      if (changes.queue !== undefined) spec.queue = changes.queue === '' ? undefined : changes.queue;
      if (changes.slots !== undefined) spec.slots = changes.slots;
      if (changes.resources !== undefined) spec.resources = changes.resources;
      if (changes.holdJobs !== undefined) {
        spec.holdJobs = changes.holdJobs;
        q('DELETE FROM job_deps WHERE job_id = ? AND per_task = 0').run(jobId);
        this.insertDeps(jobId, this.resolveHoldJobs(changes.holdJobs), []);
      }
      q('UPDATE jobs SET name = ?, priority = ?, queue = ?, slots = ?, spec = ? WHERE id = ?').run(spec.name, spec.priority, spec.queue ?? null, spec.slots, JSON.stringify(spec), jobId);
    });
    events.emit('schedule:wanted', `job ${jobId} altered`);
    return { jobId, changes, blocking: changes.holdJobs !== undefined ? reader.waitingFor(jobId) : [] };
  }

  /**
   * `qdel`: pending tasks are deleted at once; running ones are marked and their agents told to
   * kill them (the kill's result is committed like any other, as SGE's `failed 100`).
   * With `tasks`, only those task ids of an array job.
   */
  deleteJob(jobId: number, actor: Actor, tasks: TaskRange | undefined, activeAgents: ReadonlySet<string>): DeleteOutcome {
    const { db, q, reader } = this.ctx;
    const job = requireJob(this.ctx, jobId);
    checkOwner(job, actor, 'delete');
    const outcome: DeleteOutcome = { jobId, isArray: job.is_array === 1, tasks, deleted: 0, registered: [], selected: [], kill: [] };
    const finished = runTransaction(db, (): boolean => {
      const range = { first: job.first_task, last: job.last_task, step: job.step };
      const selected = (id: number): boolean => rangeHas(range, id) && (!tasks || rangeHas(tasks, id));
      const markDeleted = q(`UPDATE tasks SET state = ${sqlList([TaskState.Deleted])} WHERE job_id = ? AND task_id = ?`);
      // Tasks that have rows: pending ones go; leased/running ones are killed.
      const rows = q(`SELECT task_id, state, attempt_id FROM tasks WHERE job_id = ? AND state IN (${UNFINISHED_TASKS})`).all(jobId) as {
        task_id: number;
        state: TaskState;
        attempt_id: string;
      }[];
      for (const row of rows) {
        if (!selected(row.task_id)) continue;
        if (row.state === TaskState.Pending) {
          markDeleted.run(jobId, row.task_id);
          outcome.deleted++;
          continue;
        }
        q('UPDATE tasks SET delete_requested = 1 WHERE job_id = ? AND task_id = ?').run(jobId, row.task_id);
        outcome.registered.push(row.task_id);
        const attempt = q('SELECT agent_id FROM attempts WHERE id = ?').get(row.attempt_id) as { agent_id: string };
        if (activeAgents.has(attempt.agent_id)) {
          outcome.kill.push({ attemptId: row.attempt_id, agentId: attempt.agent_id });
        } else {
          // Its agent is gone: nobody can report a result, so the task ends here.
          endAttemptWithoutResult(this.ctx, { id: row.attempt_id, agentId: attempt.agent_id }, AttemptState.Cancelled, `deleted by ${actor.user} while its host was unreachable`);
          markDeleted.run(jobId, row.task_id);
        }
      }
      // Never-dispatched tasks.
      if (!tasks) {
        outcome.deleted += reader.undispatchedCount(job);
        q('UPDATE jobs SET deleted = 1 WHERE id = ?').run(jobId);
      } else {
        outcome.deleted += deleteUndispatched(q, reader, job, tasks);
        if (job.is_array) outcome.selected = reader.idsIn(range, tasks, LISTED_TASKS_LIMIT);
      }
      return finishJobIfDone(this.ctx, jobId);
    });
    outcome.registered.sort((a, b) => a - b);
    if (finished) announceJobFinished(this.ctx, jobId);
    return outcome;
  }
}
