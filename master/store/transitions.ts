import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { type Db, statementCache } from './database.js';
import { deleteUndispatched } from './undispatched-delete.js';
import type { Clock } from '../clock.js';
import type { MasterEventBus } from '../events.js';
import type { JobSubmission, TaskRange } from '../../protocol/job-spec.js';
import type { HostInventory, TaskFinished, TaskUsage } from '../../protocol/agent-messages.js';
import { FailedCode } from '../../protocol/agent-messages.js';
import { AttemptState, TaskState } from '../states.js';
import { rangeHas, taskCount } from '../../protocol/task-ranges.js';
import { type JobRow, JobReader, rangeSkipper } from './job-reader.js';
import { type Actor, checkOwner, PermissionError } from './ownership.js';

export { PermissionError };

/**
 * Every write to jobs, tasks, attempts and hosts, each a named function running in one
 * transaction. Nothing else in the master writes those tables: the invariants below are kept here.
 *
 * Invariants:
 * - A task row's `attempt_id` names its current attempt while leased/running, and its committed
 *   attempt once done. An attempt's result is committed only if it is still the task's current
 *   attempt, and only once (a replayed result is acknowledged without effect).
 * - A job is `finished` once no task can run any more: nothing pending (row or range) and nothing
 *   leased or running. Dependants waiting on it become runnable in the same transaction.
 */

/** A task leased to a host: what the hub needs to send the assignment. */
export interface Lease {
  attemptId: string;
  jobId: number;
  taskId: number;
}

export interface HostRef {
  agentId: string;
  hostname: string;
  group: string;
}

export const CommitOutcome = {
  /** The result is now the task's outcome. */
  Committed: 'committed',
  /** Already committed earlier (a replay): acknowledge, change nothing. */
  Duplicate: 'duplicate',
  /** The attempt was lost or cancelled meanwhile; its result is discarded. */
  Stale: 'stale',
  Unknown: 'unknown',
} as const;
export type CommitOutcome = (typeof CommitOutcome)[keyof typeof CommitOutcome];

/** What acceptOutputSeq made of an output chunk. */
export const OutputSeq = {
  New: 'new',
  /** Already stored (a replay after reconnect): drop it. */
  Replay: 'replay',
  /** Beyond the allowed gap: drop it, the stream's position stays. */
  TooFarAhead: 'too-far-ahead',
} as const;
export type OutputSeq = (typeof OutputSeq)[keyof typeof OutputSeq];

/** Outcome of a delete request for one job: texts as SGE prints them, and attempts to kill. */
export interface DeleteOutcome {
  messages: { ok: boolean; text: string }[];
  kill: { attemptId: string; agentId: string }[];
}

export class Transitions {
  private readonly reader: JobReader;
  private readonly q: ReturnType<typeof statementCache>;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly events: MasterEventBus,
  ) {
    this.reader = new JobReader(db);
    this.q = statementCache(db);
  }

  // ------------------------------------------------------------------ jobs

  /** Stores a new job; its -hold_jid references are resolved to job ids now, as SGE does. */
  submitJob(sub: JobSubmission): { jobId: number; dependsOn: number[] } {
    const range: TaskRange = sub.array ?? { first: 1, last: 1, step: 1 };
    const result = this.db.transaction(() => {
      const dependsOn = this.resolveHoldJobs(sub.holdJobs);
      const info = this.db
        .prepare(
          `INSERT INTO jobs (name, owner, spec, submit_time, priority, queue, slots, is_array,
                             first_task, last_task, step, next_task, user_hold)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          sub.name,
          sub.submitter.user,
          JSON.stringify(sub),
          this.clock.now(),
          sub.priority,
          sub.queue ?? null,
          sub.slots,
          sub.array ? 1 : 0,
          range.first,
          range.last,
          range.step,
          range.first,
          sub.hold ? 1 : 0,
        );
      const jobId = Number(info.lastInsertRowid);
      this.insertDeps(jobId, dependsOn, this.resolveHoldJobs(sub.holdJobsArray ?? []));
      return { jobId, dependsOn };
    })();
    this.events.emit('job:submitted', result.jobId);
    this.events.emit('schedule:wanted', `job ${result.jobId} submitted`);
    return result;
  }

  /** Whole-job dependencies first: where a job is both, the whole-job wait subsumes the per-task one. */
  private insertDeps(jobId: number, wholeJob: readonly number[], perTask: readonly number[]): void {
    const insertDep = this.q('INSERT OR IGNORE INTO job_deps (job_id, depends_on, per_task) VALUES (?, ?, ?)');
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
      const rows = this.q('SELECT id FROM jobs WHERE name = ? AND finished = 0').all(ref) as { id: number }[];
      for (const row of rows) ids.add(row.id);
    }
    return [...ids];
  }

  setUserHold(jobId: number, requester: Actor, hold: boolean): string {
    const job = this.requireJob(jobId);
    checkOwner(job, requester, 'hold');
    this.q('UPDATE jobs SET user_hold = ? WHERE id = ?').run(hold ? 1 : 0, jobId);
    if (!hold) this.events.emit('schedule:wanted', `job ${jobId} released`);
    // SGE 8.1.9 names each waiting task of an array (`modified hold of job-array task 149.1`).
    const waiting = job.is_array
      ? [...(this.q(`SELECT task_id FROM tasks WHERE job_id = ? AND state = 'pending'`).pluck().all(jobId) as number[]), ...this.reader.undispatchedIds(job, 1000)].sort((a, b) => a - b)
      : [];
    if (waiting.length === 0) return `modified hold of job ${jobId}`;
    return waiting.map((id) => `modified hold of job-array task ${jobId}.${id}`).join('\n');
  }

  /**
   * The dashboard's "rerun failed tasks": tasks that ended with a non-zero exit or failed code go
   * back to the queue (their finished attempts stay in the history and accounting, as a rerun
   * does in SGE), and a finished job becomes unfinished again. Deleted jobs are not revived.
   */
  rerunFailedTasks(jobId: number, requester: Actor): string {
    const job = this.requireJob(jobId);
    checkOwner(job, requester, 'clear');
    if (job.deleted) return `job ${jobId} was deleted: nothing to rerun`;
    const count = this.db.transaction((): number => {
      const rerun = this.q(
        `UPDATE tasks SET state = 'pending', exit_status = NULL, failed_code = NULL
         WHERE job_id = ? AND state = 'done' AND (COALESCE(exit_status, 0) <> 0 OR COALESCE(failed_code, 0) <> 0)`,
      ).run(jobId).changes;
      if (rerun > 0) this.q('UPDATE jobs SET finished = 0, finish_time = NULL WHERE id = ?').run(jobId);
      return rerun;
    })();
    if (count > 0) this.events.emit('schedule:wanted', `${count} failed task(s) of job ${jobId} rerun by ${requester.user}`);
    return count === 0 ? `job ${jobId} has no failed tasks` : `${requester.user} reran ${count} failed task${count === 1 ? '' : 's'} of job ${jobId}`;
  }

  /** `qalter`: changes what has not started yet; running tasks keep what they were started with. */
  alterJob(
    jobId: number,
    requester: Actor,
    changes: { name?: string; priority?: number; queue?: string; holdJobs?: string[]; slots?: number; resources?: JobSubmission['resources'] },
  ): string {
    const job = this.requireJob(jobId);
    checkOwner(job, requester, 'alter');
    this.db.transaction(() => {
      const spec = JSON.parse(job.spec) as JobSubmission;
      if (changes.name !== undefined) spec.name = changes.name;
      if (changes.priority !== undefined) spec.priority = changes.priority;
      if (changes.queue !== undefined) spec.queue = changes.queue === '' ? undefined : changes.queue;
      if (changes.slots !== undefined) spec.slots = changes.slots;
      if (changes.resources !== undefined) spec.resources = changes.resources;
      if (changes.holdJobs !== undefined) {
        spec.holdJobs = changes.holdJobs;
        this.q('DELETE FROM job_deps WHERE job_id = ? AND per_task = 0').run(jobId);
        this.insertDeps(jobId, this.resolveHoldJobs(changes.holdJobs), []);
      }
      this.db
        .prepare('UPDATE jobs SET name = ?, priority = ?, queue = ?, slots = ?, spec = ? WHERE id = ?')
        .run(spec.name, spec.priority, spec.queue ?? null, spec.slots, JSON.stringify(spec), jobId);
    })();
    this.events.emit('schedule:wanted', `job ${jobId} altered`);
    // One line per change, in SGE 8.1.9's words and order (test/fixtures/sge/holds-alter-delete.txt).
    const lines: string[] = [];
    if (changes.priority !== undefined) lines.push(`${requester.user}@${os.hostname().split('.')[0]} sets scheduling priority of job ${jobId} to ${changes.priority}`);
    if (changes.name !== undefined) lines.push(`modified job name of job ${jobId}`);
    if (changes.queue !== undefined) lines.push(`modified hard queue list of job ${jobId}`);
    if (changes.resources !== undefined) lines.push(`modified hard resource list of job ${jobId}`);
    if (changes.slots !== undefined) lines.push(`modified parallel environment of job ${jobId}`);
    if (changes.holdJobs !== undefined) {
      const blocking = this.reader.waitingFor(jobId);
      lines.push(`modified job id hold list of job ${jobId}`, `   blocking jobs: ${blocking.join(',') || 'NONE'}`, `   exited jobs:   NONE`);
    }
    return lines.length > 0 ? lines.join('\n') : `modified job ${jobId}`;
  }

  /**
   * `qdel`: pending tasks are deleted at once; running ones are marked and their agents told to
   * kill them (the kill's result is committed like any other, as SGE's `failed 100`).
   * With `tasks`, only those task ids of an array job.
   */
  deleteJob(jobId: number, actor: Actor, tasks: TaskRange | undefined, activeAgents: ReadonlySet<string>): DeleteOutcome {
    const outcome: DeleteOutcome = { messages: [], kill: [] };
    const job = this.requireJob(jobId);
    checkOwner(job, actor, 'delete');
    const requester = actor.user;
    const finishedJobs: number[] = [];
    this.db.transaction(() => {
      const range = { first: job.first_task, last: job.last_task, step: job.step };
      const selected = (id: number): boolean => rangeHas(range, id) && (!tasks || rangeHas(tasks, id));
      let deletedPending = 0;
      let registered = 0;
      const registeredIds = new Set<number>();
      // Tasks that have rows: pending ones go; leased/running ones are killed.
      const rows = this.db
        .prepare(`SELECT task_id, state, attempt_id FROM tasks WHERE job_id = ? AND state IN ('pending', 'leased', 'running')`)
        .all(jobId) as { task_id: number; state: TaskState; attempt_id: string | null }[];
      for (const row of rows) {
        if (!selected(row.task_id)) continue;
        if (row.state === TaskState.Pending) {
          this.q(`UPDATE tasks SET state = 'deleted' WHERE job_id = ? AND task_id = ?`).run(jobId, row.task_id);
          deletedPending++;
          continue;
        }
        this.q('UPDATE tasks SET delete_requested = 1 WHERE job_id = ? AND task_id = ?').run(jobId, row.task_id);
        registered++;
        registeredIds.add(row.task_id);
        const attempt = this.q('SELECT agent_id FROM attempts WHERE id = ?').get(row.attempt_id) as { agent_id: string };
        if (activeAgents.has(attempt.agent_id)) {
          outcome.kill.push({ attemptId: row.attempt_id!, agentId: attempt.agent_id });
        } else {
          // Its agent is gone: nobody can report a result, so the task ends here.
          this.endAttemptWithoutResult(row.attempt_id!, AttemptState.Cancelled, `deleted by ${requester} while its host was unreachable`);
          this.q(`UPDATE tasks SET state = 'deleted' WHERE job_id = ? AND task_id = ?`).run(jobId, row.task_id);
        }
      }
      // Never-dispatched tasks.
      if (!tasks) {
        deletedPending += this.reader.undispatchedCount(job);
        this.q('UPDATE jobs SET deleted = 1 WHERE id = ?').run(jobId);
      } else {
        deletedPending += deleteUndispatched(this.q, this.reader, job, tasks);
      }
      const label = job.is_array ? 'job-array task' : 'job';
      if (tasks && job.is_array) {
        if (deletedPending + registered === 0) {
          outcome.messages.push({ ok: false, text: `denied: job "${jobId}" has no tasks matching ${tasks.first}-${tasks.last}:${tasks.step}` });
        } else {
          for (const id of this.reader.idsIn(range, tasks, 1000)) {
            // A running task is only registered for deletion (its kill is under way), as SGE says.
            const text = registeredIds.has(id) ? `${requester} has registered the ${label} ${jobId}.${id} for deletion` : `${requester} has deleted ${label} ${jobId}.${id}`;
            outcome.messages.push({ ok: true, text });
          }
        }
      } else if (registered > 0 && job.is_array) {
        // SGE 8.1.9: each running task is registered, then the rest of the job is deleted.
        for (const id of [...registeredIds].sort((x, y) => x - y)) {
          outcome.messages.push({ ok: true, text: `${requester} has registered the job-array task ${jobId}.${id} for deletion` });
        }
        if (deletedPending > 0) outcome.messages.push({ ok: true, text: `${requester} has deleted job ${jobId}` });
      } else if (registered > 0) {
        outcome.messages.push({ ok: true, text: `${requester} has registered the job ${jobId} for deletion` });
      } else {
        outcome.messages.push({ ok: true, text: `${requester} has deleted job ${jobId}` });
      }
      if (this.finishJobIfDone(jobId)) finishedJobs.push(jobId);
    })();
    for (const id of finishedJobs) this.announceJobFinished(id);
    return outcome;
  }

  // ------------------------------------------------------------------ dispatch

  /**
   * Leases up to `count` tasks of a job to a host, in one transaction: tasks requeued after a
   * lost host first, then never-dispatched ids from the job's cursor.
   */
  /** `skipRequeued`: requeued tasks that must not go to this host (the scheduler's blocklist). */
  leaseTasks(job: JobRow, host: HostRef, count: number, skipRequeued: (taskId: number) => boolean = () => false): Lease[] {
    return this.db.transaction(() => {
      const leases: Lease[] = [];
      const now = this.clock.now();
      // -hold_jid_ad: only tasks whose predecessor tasks are done may start.
      const gates = this.reader.taskGates(job.id);
      const ready = (taskId: number): boolean => gates.length === 0 || this.reader.taskReady(gates, taskId);
      const insertAttempt = this.q(
        `INSERT INTO attempts (id, job_id, task_id, agent_id, hostname, group_name, state, leased_at)
         VALUES (?, ?, ?, ?, ?, ?, 'leased', ?)`,
      );
      const lease = (taskId: number): string => {
        const attemptId = randomUUID();
        insertAttempt.run(attemptId, job.id, taskId, host.agentId, host.hostname, host.group, now);
        leases.push({ attemptId, jobId: job.id, taskId });
        return attemptId;
      };
      const requeued = this.q(`SELECT task_id FROM tasks WHERE job_id = ? AND state = 'pending' ORDER BY task_id`).pluck().all(job.id) as number[];
      const relaunch = this.q(`UPDATE tasks SET state = 'leased', attempt_id = ?, attempts = attempts + 1 WHERE job_id = ? AND task_id = ?`);
      for (const taskId of requeued) {
        if (leases.length >= count) break;
        if (ready(taskId) && !skipRequeued(taskId)) relaunch.run(lease(taskId), job.id, taskId);
      }
      if (leases.length < count && job.next_task <= job.last_task) {
        const exists = this.q('SELECT 1 FROM tasks WHERE job_id = ? AND task_id = ?').pluck();
        const insertTask = this.q(`INSERT INTO tasks (job_id, task_id, state, attempt_id, attempts) VALUES (?, ?, 'leased', ?, 1)`);
        // The cursor moves past ids that have rows; a gated id that is not ready stops it, and
        // the scan looks a bounded distance beyond for ready ones (they get rows: rows past the
        // cursor are allowed, undispatchedCount subtracts them).
        // Ids in deleted ranges (qdel -t in the middle) are jumped over, and so is the cursor.
        const ranges = this.reader.deletedRanges(job.id);
        const skip = rangeSkipper(job, ranges);
        let cursor = job.next_task;
        let cursorFixed = false;
        const scanLimit = gates.length === 0 ? Infinity : 10_000;
        let scanned = 0;
        for (let taskId = skip(job.next_task); taskId <= job.last_task && leases.length < count && scanned < scanLimit; taskId = skip(taskId + job.step), scanned++) {
          if (exists.get(job.id, taskId)) {
            if (!cursorFixed) cursor = taskId + job.step;
            continue;
          }
          if (!ready(taskId)) {
            cursorFixed = true;
            continue;
          }
          insertTask.run(job.id, taskId, lease(taskId));
          if (!cursorFixed) cursor = taskId + job.step;
        }
        if (ranges.length > 0) cursor = rangeSkipper(job, ranges)(cursor);
        if (cursor !== job.next_task) {
          this.q('UPDATE jobs SET next_task = ? WHERE id = ?').run(cursor, job.id);
          this.q('DELETE FROM deleted_ranges WHERE job_id = ? AND last < ?').run(job.id, cursor);
          job.next_task = cursor;
        }
      }
      return leases;
    })();
  }

  markStarted(attemptId: string, pid: number, startedAt: number): boolean {
    return this.db.transaction(() => {
      const row = this.q('SELECT job_id, task_id, state FROM attempts WHERE id = ?').get(attemptId) as
        | { job_id: number; task_id: number; state: AttemptState }
        | undefined;
      if (!row || row.state !== AttemptState.Leased) return false;
      this.q(`UPDATE attempts SET state = 'running', pid = ?, started_at = ? WHERE id = ?`).run(pid, startedAt, attemptId);
      this.db
        .prepare(`UPDATE tasks SET state = 'running' WHERE job_id = ? AND task_id = ? AND attempt_id = ?`)
        .run(row.job_id, row.task_id, attemptId);
      return true;
    })();
  }

  /**
   * Commits an agent's result exactly once; see CommitOutcome. A result marked retryable (the
   * node failed the task: staging, upload) requeues the task instead, up to `maxAttempts`
   * attempts in all; after that the failure is committed like any other.
   */
  commitResult(result: TaskFinished, maxAttempts = 3): CommitOutcome {
    let finishedJob: number | null = null;
    let finishedTask: { jobId: number; taskId: number } | null = null;
    let requeued = false;
    const outcome = this.db.transaction((): CommitOutcome => {
      const attempt = this.q('SELECT job_id, task_id, state FROM attempts WHERE id = ?').get(result.attemptId) as
        | { job_id: number; task_id: number; state: AttemptState }
        | undefined;
      if (!attempt) return CommitOutcome.Unknown;
      if (attempt.state === AttemptState.Done || attempt.state === AttemptState.Failed) return CommitOutcome.Duplicate;
      if (attempt.state !== AttemptState.Leased && attempt.state !== AttemptState.Running) return CommitOutcome.Stale;
      const task = this.q('SELECT attempt_id, attempts, delete_requested FROM tasks WHERE job_id = ? AND task_id = ?').get(
        attempt.job_id,
        attempt.task_id,
      ) as { attempt_id: string; attempts: number; delete_requested: number };
      if (task.attempt_id !== result.attemptId) return CommitOutcome.Stale;
      const retry = result.retryable === true && !task.delete_requested && task.attempts < maxAttempts;
      this.q(
        `UPDATE attempts SET state = ?, started_at = COALESCE(started_at, ?), ended_at = ?, exit_status = ?,
           signal = ?, failed_code = ?, failed_reason = ?, usage = ?, outputs = ? WHERE id = ?`,
      ).run(
        retry ? AttemptState.Failed : AttemptState.Done,
        result.startedAt,
        result.endedAt,
        result.exitStatus,
        result.signal,
        result.failedCode,
        result.failedReason,
        JSON.stringify(result.usage),
        result.outputs ? JSON.stringify(result.outputs) : null,
        result.attemptId,
      );
      if (retry) {
        this.q(`UPDATE tasks SET state = 'pending' WHERE job_id = ? AND task_id = ?`).run(attempt.job_id, attempt.task_id);
        requeued = true;
        return CommitOutcome.Committed;
      }
      // A task deleted while running counts as killed after the job started, whatever it exited with.
      const failedCode = task.delete_requested && result.failedCode === 0 ? FailedCode.AfterJob : result.failedCode;
      this.q(`UPDATE tasks SET state = 'done', exit_status = ?, failed_code = ? WHERE job_id = ? AND task_id = ?`).run(
        result.exitStatus,
        failedCode,
        attempt.job_id,
        attempt.task_id,
      );
      finishedTask = { jobId: attempt.job_id, taskId: attempt.task_id };
      if (this.finishJobIfDone(attempt.job_id)) finishedJob = attempt.job_id;
      return CommitOutcome.Committed;
    })();
    if (requeued) {
      this.events.emit('attempt:ended', result.attemptId);
      this.events.emit('schedule:wanted', `attempt ${result.attemptId} failed on its node (${result.failedReason}); task requeued`);
    }
    if (finishedTask) {
      const { jobId, taskId } = finishedTask;
      this.events.emit('task:finished', jobId, taskId, result.attemptId);
      this.events.emit('attempt:ended', result.attemptId);
      this.events.emit('schedule:wanted', `task ${jobId}.${taskId} finished`);
    }
    if (finishedJob !== null) this.announceJobFinished(finishedJob);
    return outcome;
  }

  /**
   * The agent's host is gone (lease expired) or the agent no longer knows these attempts:
   * their tasks go back to the queue, or end if deletion was requested.
   */
  requeueAttempts(attemptIds: readonly string[], reason: string, endState: AttemptState = AttemptState.Lost): number {
    if (attemptIds.length === 0) return 0;
    const finishedJobs: number[] = [];
    const notRerun: { jobId: number; taskId: number; attemptId: string }[] = [];
    const count = this.db.transaction(() => {
      let n = 0;
      for (const attemptId of attemptIds) {
        const attempt = this.q('SELECT job_id, task_id, state FROM attempts WHERE id = ?').get(attemptId) as
          | { job_id: number; task_id: number; state: AttemptState }
          | undefined;
        if (!attempt || (attempt.state !== AttemptState.Leased && attempt.state !== AttemptState.Running)) continue;
        this.endAttemptWithoutResult(attemptId, endState, reason);
        const task = this.db
          .prepare('SELECT attempt_id, delete_requested FROM tasks WHERE job_id = ? AND task_id = ?')
          .get(attempt.job_id, attempt.task_id) as { attempt_id: string; delete_requested: number };
        if (task.attempt_id !== attemptId) continue;
        const job = this.reader.job(attempt.job_id)!;
        const next = task.delete_requested || job.deleted ? TaskState.Deleted : TaskState.Pending;
        if (next === TaskState.Pending && attempt.state === AttemptState.Running && job.spec.includes('"rerun":false')) {
          // qsub -r n: a task that started is not run again; it ends as failed, killed with its host.
          this.q(`UPDATE attempts SET state = 'done', exit_status = 137, failed_code = ?, started_at = COALESCE(started_at, leased_at) WHERE id = ?`).run(FailedCode.AfterJob, attemptId);
          this.q(`UPDATE tasks SET state = 'done', exit_status = 137, failed_code = ? WHERE job_id = ? AND task_id = ?`).run(FailedCode.AfterJob, attempt.job_id, attempt.task_id);
          notRerun.push({ jobId: attempt.job_id, taskId: attempt.task_id, attemptId });
          if (this.finishJobIfDone(attempt.job_id)) finishedJobs.push(attempt.job_id);
          n++;
          continue;
        }
        this.q('UPDATE tasks SET state = ? WHERE job_id = ? AND task_id = ?').run(next, attempt.job_id, attempt.task_id);
        if (next === TaskState.Deleted && this.finishJobIfDone(attempt.job_id)) finishedJobs.push(attempt.job_id);
        n++;
      }
      return n;
    })();
    for (const t of notRerun) this.events.emit('task:finished', t.jobId, t.taskId, t.attemptId);
    for (const attemptId of attemptIds) this.events.emit('attempt:ended', attemptId);
    for (const jobId of finishedJobs) this.announceJobFinished(jobId);
    if (count > 0) this.events.emit('schedule:wanted', `${count} task(s) requeued: ${reason}`);
    return count;
  }

  /**
   * Keeps output replay idempotent: New if `seq` is new for the attempt. Chunks arrive in order;
   * a gap (the agent dropped its oldest buffered output during a long disconnect) is accepted up
   * to `maxJump` ahead of the next expected seq. A chunk further ahead is TooFarAhead and leaves
   * the position where it was: one absurd seq must not make every later real chunk a "replay".
   */
  acceptOutputSeq(attemptId: string, seq: number, maxJump: number): OutputSeq {
    const info = this.q('UPDATE attempts SET output_seq = ? WHERE id = ? AND output_seq <= ? AND ? - output_seq <= ?').run(seq + 1, attemptId, seq, seq, maxJump);
    if (info.changes > 0) return OutputSeq.New;
    const next = this.q('SELECT output_seq FROM attempts WHERE id = ?').pluck().get(attemptId) as number | undefined;
    return next !== undefined && seq > next ? OutputSeq.TooFarAhead : OutputSeq.Replay;
  }

  recordUsage(attemptId: string, usage: TaskUsage): void {
    this.q(`UPDATE attempts SET usage = ? WHERE id = ? AND state IN ('leased', 'running')`).run(JSON.stringify(usage), attemptId);
  }

  // ------------------------------------------------------------------ hosts

  upsertHost(hello: HostInventory): void {
    const now = this.clock.now();
    this.db
      .prepare(
        `INSERT INTO hosts (agent_id, hostname, group_name, hello, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (agent_id) DO UPDATE SET hostname = excluded.hostname, group_name = excluded.group_name,
           hello = excluded.hello, last_seen = excluded.last_seen`,
      )
      .run(hello.agentId, hello.hostname, hello.group, JSON.stringify(hello), now, now);
  }

  touchHost(agentId: string): void {
    this.touchHosts([agentId]);
  }

  /** Heartbeats of many agents in one transaction: 20,000 agents would otherwise be 4,000 commits a second. */
  touchHosts(agentIds: Iterable<string>): void {
    const now = this.clock.now();
    const touch = this.q('UPDATE hosts SET last_seen = ? WHERE agent_id = ?');
    this.db.transaction(() => {
      for (const agentId of agentIds) touch.run(now, agentId);
    })();
  }

  setHostDisabled(hostname: string, disabled: boolean): boolean {
    const info = this.q('UPDATE hosts SET disabled = ? WHERE hostname = ?').run(disabled ? 1 : 0, hostname);
    if (info.changes > 0) this.events.emit('host:state-changed', hostname);
    if (!disabled) this.events.emit('schedule:wanted', `host ${hostname} enabled`);
    return info.changes > 0;
  }

  // ------------------------------------------------------------------ groups and their machines (issue 6)

  /**
   * Spot reclaim: the attempts go back to the queue as *interrupted* (neither lost nor failed),
   * so qacct shows the rerun's outcome and the history shows why it ran twice.
   */
  interruptAttempts(attemptIds: readonly string[], reason: string): number {
    return this.requeueAttempts(attemptIds, reason, AttemptState.Interrupted);
  }

  /** The host's machine is gone (the provider no longer lists it): lost now, its attempts requeued. */
  markHostLost(agentId: string, reason: string): number {
    return this.db.transaction(() => {
      this.q('UPDATE hosts SET lost = 1 WHERE agent_id = ?').run(agentId);
      const ids = this.q(`SELECT id FROM attempts WHERE agent_id = ? AND state IN ('leased', 'running')`).pluck().all(agentId) as string[];
      return this.requeueAttempts(ids, reason);
    })();
  }

  /** The host's machine is being reclaimed: drained, and the attempts that cannot finish in time requeued as interrupted. */
  markHostInterrupted(agentId: string, requeue: readonly string[], reason: string): number {
    return this.db.transaction(() => {
      this.q('UPDATE hosts SET interrupted_at = COALESCE(interrupted_at, ?), draining = 1 WHERE agent_id = ?').run(this.clock.now(), agentId);
      return this.interruptAttempts(requeue, reason);
    })();
  }

  recordSpotNotice(agentId: string, terminationTime: string): void {
    this.q('UPDATE hosts SET spot_termination = ? WHERE agent_id = ?').run(terminationTime, agentId);
  }

  setHostDraining(agentId: string, draining: boolean): void {
    this.q('UPDATE hosts SET draining = ? WHERE agent_id = ?').run(draining ? 1 : 0, agentId);
  }

  /** A host that says hello is not lost. */
  markHostFound(agentId: string): void {
    this.q('UPDATE hosts SET lost = 0 WHERE agent_id = ? AND lost = 1').run(agentId);
  }

  /**
   * A provider reuses a machine id (the local provider's names after a master restart): the new
   * machine starts with none of the old one's marks.
   */
  resetHostsOfInstance(instanceId: string): void {
    this.q(
      `UPDATE hosts SET lost = 0, interrupted_at = NULL, spot_termination = NULL, draining = 0
       WHERE json_extract(hello, '$.labels."qfarm.instance-id"') = ?`,
    ).run(instanceId);
  }

  /** Stores a new group; false if one of that name exists. `spec` is compileGroupSpec() output (JSON). */
  createGroup(name: string, specJson: string): boolean {
    const now = this.clock.now();
    const info = this.q('INSERT OR IGNORE INTO groups (name, spec, created_at, updated_at) VALUES (?, ?, ?, ?)').run(name, specJson, now, now);
    return info.changes > 0;
  }

  updateGroup(name: string, specJson: string): boolean {
    return this.q('UPDATE groups SET spec = ?, updated_at = ? WHERE name = ?').run(specJson, this.clock.now(), name).changes > 0;
  }

  setGroupDeleting(name: string, deleting: boolean): boolean {
    return this.q('UPDATE groups SET deleting = ?, updated_at = ? WHERE name = ?').run(deleting ? 1 : 0, this.clock.now(), name).changes > 0;
  }

  deleteGroup(name: string): boolean {
    return this.q('DELETE FROM groups WHERE name = ?').run(name).changes > 0;
  }

  /** What the last autoscaler pass decided, for `qfarm group show`. */
  recordGroupDecision(name: string, d: { desired: number; reasons: string[]; historyJson: string; lastError: string | null }): void {
    this.q('UPDATE groups SET desired = ?, reasons = ?, history = ?, last_error = ?, updated_at = ? WHERE name = ?').run(
      d.desired,
      JSON.stringify(d.reasons),
      d.historyJson,
      d.lastError,
      this.clock.now(),
      name,
    );
  }

  // ------------------------------------------------------------------ helpers (inside transactions)

  private endAttemptWithoutResult(attemptId: string, state: AttemptState, reason: string): void {
    this.db
      .prepare(`UPDATE attempts SET state = ?, ended_at = ?, failed_reason = ? WHERE id = ?`)
      .run(state, this.clock.now(), reason, attemptId);
  }

  /** Marks the job finished if no task can run any more. Returns true if it just finished. */
  private finishJobIfDone(jobId: number): boolean {
    const job = this.reader.job(jobId);
    if (!job || job.finished) return false;
    const active = this.db
      .prepare(`SELECT COUNT(*) FROM tasks WHERE job_id = ? AND state IN ('pending', 'leased', 'running')`)
      .pluck()
      .get(jobId) as number;
    if (active > 0) return false;
    if (!job.deleted && this.reader.undispatchedCount(job) > 0) return false;
    this.q('UPDATE jobs SET finished = 1, finish_time = ? WHERE id = ?').run(this.clock.now(), jobId);
    return true;
  }

  private announceJobFinished(jobId: number): void {
    this.events.emit('job:finished', jobId);
    // Dependants of this job may be runnable now.
    this.events.emit('schedule:wanted', `job ${jobId} finished`);
  }

  private requireJob(jobId: number): JobRow {
    const job = this.reader.job(jobId);
    if (!job) throw new JobNotFoundError(String(jobId));
    return job;
  }

}

export class JobNotFoundError extends Error {
  constructor(readonly ref: string) {
    super(`job "${ref}" does not exist`);
    this.name = 'JobNotFoundError';
  }
}

export { taskCount };
