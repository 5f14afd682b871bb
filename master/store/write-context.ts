import { type Db, statementCache } from './database.js';
import { type JobRow, JobReader } from './job-reader.js';
import { UNFINISHED_TASKS } from './sql-states.js';
import type { Clock } from '../clock.js';
import type { MasterEventBus } from '../events.js';
import type { AttemptState } from '../states.js';
import { HostLastEnds } from './host-last-ends.js';

/**
 * What every family of store writes (job-writes, attempt-writes, host-writes, group-store)
 * shares, and the few steps more than one family takes inside its transaction.
 */
export interface WriteContext {
  db: Db;
  /** Prepared statements, compiled once per SQL text. */
  q: ReturnType<typeof statementCache>;
  clock: Clock;
  events: MasterEventBus;
  reader: JobReader;
  /** When each host's last attempt ended, written to its row later (host-last-ends.ts). */
  hostEnds: HostLastEnds;
}

export function writeContext(db: Db, clock: Clock, events: MasterEventBus): WriteContext {
  return { db, q: statementCache(db), clock, events, reader: new JobReader(db), hostEnds: new HostLastEnds() };
}

export class JobNotFoundError extends Error {
  constructor(readonly ref: string) {
    super(`job "${ref}" does not exist`);
    this.name = 'JobNotFoundError';
  }
}

export function requireJob(ctx: WriteContext, jobId: number): JobRow {
  const job = ctx.reader.job(jobId);
  if (!job) throw new JobNotFoundError(String(jobId));
  return job;
}

/**
 * Ends an attempt nobody will report a result for (lost, cancelled, interrupted). Inside a
 * transaction; returns when it ended (now).
 */
export function endAttemptWithoutResult(ctx: WriteContext, attempt: { id: string; agentId: string }, state: AttemptState, reason: string): number {
  const now = ctx.clock.now();
  ctx.q('UPDATE attempts SET state = ?, ended_at = ?, failed_reason = ? WHERE id = ?').run(state, now, reason, attempt.id);
  ctx.hostEnds.noted(attempt.agentId, now);
  return now;
}

/**
 * A done attempt of `jobId` that ran `wallMs` joins its job's running mean of wall time
 * (job_stats, read by the autoscaler's expectedSeconds). Inside the transaction that made it done.
 */
export function countDoneAttempt(ctx: WriteContext, jobId: number, wallMs: number): void {
  ctx
    .q(
      `INSERT INTO job_stats (job_id, done_attempts, done_wall_ms) VALUES (?, 1, ?)
       ON CONFLICT (job_id) DO UPDATE SET done_attempts = done_attempts + 1, done_wall_ms = done_wall_ms + excluded.done_wall_ms`,
    )
    .run(jobId, wallMs);
}

/**
 * Marks the job finished if no task can run any more: nothing pending (row or range) and nothing
 * leased or running. Inside the transaction that ended its last task; true if it just finished.
 */
export function finishJobIfDone(ctx: WriteContext, jobId: number): boolean {
  const job = ctx.reader.cursorRow(jobId);
  if (!job || job.finished) return false;
  // Cheapest first: while the cursor has ids left, the job is not done (one result of thousands).
  if (!job.deleted && ctx.reader.undispatchedCount(job) > 0) return false;
  // EXISTS stops at the first unfinished task (tasks_state index) instead of counting them all.
  const unfinished = ctx.q(`SELECT EXISTS (SELECT 1 FROM tasks WHERE job_id = ? AND state IN (${UNFINISHED_TASKS}))`).pluck().get(jobId) as number;
  if (unfinished) return false;
  ctx.q('UPDATE jobs SET finished = 1, finish_time = ? WHERE id = ?').run(ctx.clock.now(), jobId);
  return true;
}

/** After the commit: dependants of the job may be runnable now. */
export function announceJobFinished(ctx: WriteContext, jobId: number): void {
  ctx.events.emit('job:finished', jobId);
  ctx.events.emit('schedule:wanted', `job ${jobId} finished`);
}
