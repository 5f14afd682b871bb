import { newAttemptId } from './attempt-ids.js';
import { runTransaction } from './database.js';
import { FailedCode, type TaskFinished, type TaskUsage } from '../../protocol/agent-messages.js';
import { AttemptState, TaskState } from '../states.js';
import { type JobListRow, rangeSkipper } from './job-reader.js';
import { LIVE_ATTEMPTS, sqlList } from './sql-states.js';
import { hostLossesExhausted, type TaskRetryPolicy } from './task-retries.js';
import { announceJobFinished, countDoneAttempt, endAttemptWithoutResult, finishJobIfDone, type WriteContext } from './write-context.js';

/**
 * Writes of the attempts table and of the task rows an attempt moves: lease, start, result,
 * loss. Each a named function in one transaction.
 *
 * Invariants:
 * - A task row's `attempt_id` names its current attempt while leased/running, and its committed
 *   attempt once done. An attempt's result is committed only if it is still the task's current
 *   attempt, and only once (a replayed result is acknowledged without effect).
 * - A job is `finished` once no task can run any more (write-context.ts finishJobIfDone), in the
 *   transaction that ended its last task.
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

/** An attempt as its end is decided (a result, a loss). */
const ENDING_ATTEMPT = 'SELECT job_id, task_id, state, agent_id, leased_at, started_at FROM attempts WHERE id = ?';
type EndingAttempt = { job_id: number; task_id: number; state: AttemptState; agent_id: string; leased_at: number; started_at: number | null };

const PENDING = sqlList([TaskState.Pending]);
// A lease's statements, written once: the statement cache looks them up by their text, and a
// text built per lease (three sqlList calls) was garbage each time.
const INSERT_LEASED_ATTEMPT = `INSERT INTO attempts (id, job_id, task_id, agent_id, hostname, group_name, state, leased_at)
  VALUES (?, ?, ?, ?, ?, ?, ${sqlList([AttemptState.Leased])}, ?)`;
const RELAUNCH_TASK = `UPDATE tasks SET state = ${sqlList([TaskState.Leased])}, attempt_id = ?, attempts = attempts + 1 WHERE job_id = ? AND task_id = ?`;
const INSERT_LEASED_TASK = `INSERT INTO tasks (job_id, task_id, state, attempt_id, attempts) VALUES (?, ?, ${sqlList([TaskState.Leased])}, ?, 1)`;
const START_LEASED_ATTEMPT = `UPDATE attempts SET state = ${sqlList([AttemptState.Running])}, pid = ?, started_at = ?
  WHERE id = ? AND state = ${sqlList([AttemptState.Leased])} RETURNING job_id, task_id`;
const START_TASK = `UPDATE tasks SET state = ${sqlList([TaskState.Running])} WHERE job_id = ? AND task_id = ? AND attempt_id = ?`;
const REQUEUED_TASK_IDS = `SELECT task_id FROM tasks WHERE job_id = ? AND state = ${PENDING} ORDER BY task_id`;

export class AttemptWrites {
  constructor(
    private readonly ctx: WriteContext,
    private readonly retries: TaskRetryPolicy,
  ) {}

  /**
   * Leases up to `count` tasks of a job to a host, in one transaction: tasks requeued after a
   * lost host first, then never-dispatched ids from the job's cursor.
   * `skipRequeued`: requeued tasks that must not go to this host (the scheduler's blocklist).
   */
  leaseTasks(job: JobListRow, host: HostRef, count: number, skipRequeued: (taskId: number) => boolean = () => false): Lease[] {
    const { db, q, clock, reader } = this.ctx;
    return runTransaction(db, () => {
      const leases: Lease[] = [];
      const now = clock.now();
      // -hold_jid_ad: only tasks whose predecessor tasks are done may start.
      const gates = reader.taskGates(job.id);
      const ready = (taskId: number): boolean => gates.length === 0 || reader.taskReady(gates, taskId);
      const insertAttempt = q(INSERT_LEASED_ATTEMPT);
      const lease = (taskId: number): string => {
        const attemptId = newAttemptId(now);
        insertAttempt.run(attemptId, job.id, taskId, host.agentId, host.hostname, host.group, now);
        leases.push({ attemptId, jobId: job.id, taskId });
        return attemptId;
      };
      const requeued = q(REQUEUED_TASK_IDS).pluck().all(job.id) as number[];
      const relaunch = q(RELAUNCH_TASK);
      for (const taskId of requeued) {
        if (leases.length >= count) break;
        if (ready(taskId) && !skipRequeued(taskId)) relaunch.run(lease(taskId), job.id, taskId);
      }
      if (leases.length < count && job.next_task <= job.last_task) {
        const exists = q('SELECT 1 FROM tasks WHERE job_id = ? AND task_id = ?').pluck();
        const insertTask = q(INSERT_LEASED_TASK);
        // The cursor moves past ids that have rows; a gated id that is not ready stops it, and
        // the scan looks a bounded distance beyond for ready ones (they get rows: rows past the
        // cursor are allowed, undispatchedCount subtracts them).
        // Ids in deleted ranges (qdel -t in the middle) are jumped over, and so is the cursor.
        const ranges = reader.deletedRanges(job.id);
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
          q('UPDATE jobs SET next_task = ? WHERE id = ?').run(cursor, job.id);
          if (ranges.length > 0) q('DELETE FROM deleted_ranges WHERE job_id = ? AND last < ?').run(job.id, cursor);
          job.next_task = cursor;
        }
      }
      return leases;
    });
  }

  markStarted(attemptId: string, pid: number, startedAt: number): boolean {
    const { db, q } = this.ctx;
    return runTransaction(db, () => {
      // Only a leased attempt starts: a late or replayed `started` changes nothing.
      const row = q(START_LEASED_ATTEMPT).get(pid, startedAt, attemptId) as { job_id: number; task_id: number } | undefined;
      if (!row) return false;
      q(START_TASK).run(row.job_id, row.task_id, attemptId);
      return true;
    });
  }

  /**
   * Commits an agent's result exactly once; see CommitOutcome. A result marked retryable (the
   * node failed the task: staging, upload) requeues the task instead, until the task has had
   * `nodeFailureAttempts` node failures (task-retries.ts); that last one is committed like any
   * other failure. Lost leases do not count.
   */
  commitResult(result: TaskFinished): CommitOutcome {
    const { db, q } = this.ctx;
    let finishedJob: number | null = null;
    let finishedTask: { jobId: number; taskId: number } | null = null;
    let requeued = false;
    const outcome = runTransaction(db, (): CommitOutcome => {
      const attempt = q(ENDING_ATTEMPT).get(result.attemptId) as EndingAttempt | undefined;
      if (!attempt) return CommitOutcome.Unknown;
      if (attempt.state === AttemptState.Done || attempt.state === AttemptState.Failed) return CommitOutcome.Duplicate;
      if (attempt.state !== AttemptState.Leased && attempt.state !== AttemptState.Running) return CommitOutcome.Stale;
      const task = q('SELECT attempt_id, node_failures, delete_requested FROM tasks WHERE job_id = ? AND task_id = ?').get(attempt.job_id, attempt.task_id) as {
        attempt_id: string;
        node_failures: number;
        delete_requested: number;
      };
      if (task.attempt_id !== result.attemptId) return CommitOutcome.Stale;
      const nodeFailure = result.retryable === true;
      if (nodeFailure) q('UPDATE tasks SET node_failures = node_failures + 1 WHERE job_id = ? AND task_id = ?').run(attempt.job_id, attempt.task_id);
      const retry = nodeFailure && !task.delete_requested && task.node_failures + 1 < this.retries.nodeFailureAttempts;
      q(
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
      this.ctx.hostEnds.noted(attempt.agent_id, result.endedAt);
      if (retry) {
        q(`UPDATE tasks SET state = ${PENDING} WHERE job_id = ? AND task_id = ?`).run(attempt.job_id, attempt.task_id);
        requeued = true;
        return CommitOutcome.Committed;
      }
      // A task deleted while running counts as killed after the job started, whatever it exited with.
      const failedCode = task.delete_requested && result.failedCode === 0 ? FailedCode.AfterJob : result.failedCode;
      q('UPDATE tasks SET state = ?, exit_status = ?, failed_code = ? WHERE job_id = ? AND task_id = ?').run(TaskState.Done, result.exitStatus, failedCode, attempt.job_id, attempt.task_id);
      countDoneAttempt(this.ctx, attempt.job_id, result.endedAt - (attempt.started_at ?? result.startedAt));
      finishedTask = { jobId: attempt.job_id, taskId: attempt.task_id };
      if (finishJobIfDone(this.ctx, attempt.job_id)) finishedJob = attempt.job_id;
      return CommitOutcome.Committed;
    });
    const { events } = this.ctx;
    if (requeued) {
      events.emit('attempt:ended', result.attemptId);
      events.emit('schedule:wanted', `attempt ${result.attemptId} failed on its node (${result.failedReason}); task requeued`);
    }
    if (finishedTask) {
      const { jobId, taskId } = finishedTask;
      events.emit('task:finished', jobId, taskId, result.attemptId);
      events.emit('attempt:ended', result.attemptId);
      events.emit('schedule:wanted', `task ${jobId}.${taskId} finished`);
    }
    if (finishedJob !== null) announceJobFinished(this.ctx, finishedJob);
    return outcome;
  }

  /**
   * The agent's host is gone (lease expired) or the agent no longer knows these attempts:
   * their tasks go back to the queue, or end if deletion was requested, if the job is not
   * rerunnable (`qsub -r n`) or if the task has used up its host losses (task-retries.ts).
   */
  requeueAttempts(attemptIds: readonly string[], reason: string, endState: AttemptState = AttemptState.Lost): number {
    if (attemptIds.length === 0) return 0;
    const { db, q, reader, events } = this.ctx;
    const finishedJobs: number[] = [];
    const ended: { jobId: number; taskId: number; attemptId: string }[] = [];
    const count = runTransaction(db, () => {
      let n = 0;
      for (const attemptId of attemptIds) {
        const attempt = q(ENDING_ATTEMPT).get(attemptId) as EndingAttempt | undefined;
        if (!attempt || (attempt.state !== AttemptState.Leased && attempt.state !== AttemptState.Running)) continue;
        const endedAt = endAttemptWithoutResult(this.ctx, { id: attemptId, agentId: attempt.agent_id }, endState, reason);
        const task = q('SELECT attempt_id, delete_requested, host_losses FROM tasks WHERE job_id = ? AND task_id = ?').get(attempt.job_id, attempt.task_id) as {
          attempt_id: string;
          delete_requested: number;
          host_losses: number;
        };
        if (task.attempt_id !== attemptId) continue;
        const job = reader.listRow(attempt.job_id)!;
        const next = task.delete_requested || job.deleted ? TaskState.Deleted : TaskState.Pending;
        // Only a loss while the task ran says anything about the task (see task-retries.ts).
        const hostLoss = attempt.state === AttemptState.Running && endState === AttemptState.Lost;
        if (hostLoss) q('UPDATE tasks SET host_losses = host_losses + 1 WHERE job_id = ? AND task_id = ?').run(attempt.job_id, attempt.task_id);
        const exhausted = hostLoss && hostLossesExhausted(this.retries, task.host_losses + 1);
        if (next === TaskState.Pending && attempt.state === AttemptState.Running && (!job.rerun || exhausted)) {
          // qsub -r n, or too many hosts lost under it: a task that started is not run again;
          // it ends as failed, killed with its host.
          const why = job.rerun ? `${reason}; its host was lost ${task.host_losses + 1} times while running it (qfarm master --max-host-losses)` : reason;
          q('UPDATE attempts SET state = ?, exit_status = 137, failed_code = ?, failed_reason = ?, started_at = COALESCE(started_at, leased_at) WHERE id = ?').run(
            AttemptState.Done,
            FailedCode.AfterJob,
            why,
            attemptId,
          );
          q('UPDATE tasks SET state = ?, exit_status = 137, failed_code = ? WHERE job_id = ? AND task_id = ?').run(TaskState.Done, FailedCode.AfterJob, attempt.job_id, attempt.task_id);
          // Its run counts from its start, or from its lease if it never said it started.
          countDoneAttempt(this.ctx, attempt.job_id, endedAt - (attempt.started_at ?? attempt.leased_at));
          ended.push({ jobId: attempt.job_id, taskId: attempt.task_id, attemptId });
          if (finishJobIfDone(this.ctx, attempt.job_id)) finishedJobs.push(attempt.job_id);
          n++;
          continue;
        }
        q('UPDATE tasks SET state = ? WHERE job_id = ? AND task_id = ?').run(next, attempt.job_id, attempt.task_id);
        if (next === TaskState.Deleted && finishJobIfDone(this.ctx, attempt.job_id)) finishedJobs.push(attempt.job_id);
        n++;
      }
      return n;
    });
    for (const t of ended) events.emit('task:finished', t.jobId, t.taskId, t.attemptId);
    for (const attemptId of attemptIds) events.emit('attempt:ended', attemptId);
    for (const jobId of finishedJobs) announceJobFinished(this.ctx, jobId);
    if (count > 0) events.emit('schedule:wanted', `${count} task(s) requeued: ${reason}`);
    return count;
  }

  /**
   * Spot reclaim: the attempts go back to the queue as *interrupted* (neither lost nor failed),
   * so qacct shows the rerun's outcome and the history shows why it ran twice.
   */
  interruptAttempts(attemptIds: readonly string[], reason: string): number {
    return this.requeueAttempts(attemptIds, reason, AttemptState.Interrupted);
  }

  /**
   * Keeps output replay idempotent: New if `seq` is new for the attempt. Chunks arrive in order;
   * a gap (the agent dropped its oldest buffered output during a long disconnect) is accepted up
   * to `maxJump` ahead of the next expected seq. A chunk further ahead is TooFarAhead and leaves
   * the position where it was: one absurd seq must not make every later real chunk a "replay".
   */
  acceptOutputSeq(attemptId: string, seq: number, maxJump: number): OutputSeq {
    const { q } = this.ctx;
    const info = q('UPDATE attempts SET output_seq = ? WHERE id = ? AND output_seq <= ? AND ? - output_seq <= ?').run(seq + 1, attemptId, seq, seq, maxJump);
    if (info.changes > 0) return OutputSeq.New;
    const next = q('SELECT output_seq FROM attempts WHERE id = ?').pluck().get(attemptId) as number | undefined;
    return next !== undefined && seq > next ? OutputSeq.TooFarAhead : OutputSeq.Replay;
  }

  recordUsage(attemptId: string, usage: TaskUsage): void {
    this.ctx.q(`UPDATE attempts SET usage = ? WHERE id = ? AND state IN (${LIVE_ATTEMPTS})`).run(JSON.stringify(usage), attemptId);
  }
}
