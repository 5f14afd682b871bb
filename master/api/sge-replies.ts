import os from 'node:os';
import type { ClearErrorOutcome } from '../store/error-state.js';
import type { AlterOutcome, DeleteOutcome, HoldOutcome, RerunOutcome } from '../store/job-writes.js';

/**
 * What the store did, in SGE 8.1.9's words (test/fixtures/sge/ pins the bytes). The store
 * returns outcomes as data; only here do they become the lines qdel, qhold and qalter print.
 */

export interface ReplyLine {
  ok: boolean;
  text: string;
}

/** `qdel`: one line per job, or per task of an array when some tasks were named or are running. */
export function deleteReplies(outcome: DeleteOutcome, requester: string): ReplyLine[] {
  const { jobId, isArray, tasks, deleted, registered } = outcome;
  if (tasks && isArray) {
    if (deleted + registered.length === 0) return [{ ok: false, text: `denied: job "${jobId}" has no tasks matching ${tasks.first}-${tasks.last}:${tasks.step}` }];
    // A running task is only registered for deletion (its kill is under way), as SGE says.
    const running = new Set(registered);
    return outcome.selected.map((id) => ({
      ok: true,
      text: running.has(id) ? `${requester} has registered the job-array task ${jobId}.${id} for deletion` : `${requester} has deleted job-array task ${jobId}.${id}`,
    }));
  }
  if (registered.length > 0 && isArray) {
    // SGE 8.1.9: each running task is registered, then the rest of the job is deleted.
    const lines = registered.map((id) => ({ ok: true, text: `${requester} has registered the job-array task ${jobId}.${id} for deletion` }));
    if (deleted > 0) lines.push({ ok: true, text: `${requester} has deleted job ${jobId}` });
    return lines;
  }
  if (registered.length > 0) return [{ ok: true, text: `${requester} has registered the job ${jobId} for deletion` }];
  return [{ ok: true, text: `${requester} has deleted job ${jobId}` }];
}

/** `qhold`/`qrls`: SGE 8.1.9 names each waiting task of an array (`modified hold of job-array task 149.1`). */
export function holdReply(outcome: HoldOutcome): string {
  if (outcome.waitingTasks.length === 0) return `modified hold of job ${outcome.jobId}`;
  return outcome.waitingTasks.map((id) => `modified hold of job-array task ${outcome.jobId}.${id}`).join('\n');
}

/**
 * `qalter`: one line per change, in SGE 8.1.9's words and order
 * (test/fixtures/sge/holds-alter-delete.txt). The priority line names the requester at the
 * master's short host name, as qmaster does.
 */
export function alterReply(outcome: AlterOutcome, requester: string, masterHost = os.hostname()): string {
  const { jobId, changes } = outcome;
  const lines: string[] = [];
  if (changes.priority !== undefined) lines.push(`${requester}@${masterHost.split('.')[0]} sets scheduling priority of job ${jobId} to ${changes.priority}`);
  if (changes.name !== undefined) lines.push(`modified job name of job ${jobId}`);
  if (changes.queue !== undefined) lines.push(`modified hard queue list of job ${jobId}`);
  if (changes.resources !== undefined) lines.push(`modified hard resource list of job ${jobId}`);
  if (changes.slots !== undefined) lines.push(`modified parallel environment of job ${jobId}`);
  if (changes.holdJobs !== undefined) {
    lines.push(`modified job id hold list of job ${jobId}`, `   blocking jobs: ${outcome.blocking.join(',') || 'NONE'}`, `   exited jobs:   NONE`);
  }
  return lines.length > 0 ? lines.join('\n') : `modified job ${jobId}`;
}

/** The dashboard's "rerun failed tasks" (not an SGE verb): one line saying what happened. */
export function rerunReply(outcome: RerunOutcome, requester: string): string {
  const { jobId, rerun } = outcome;
  if (outcome.deleted) return `job ${jobId} was deleted: nothing to rerun`;
  return rerun === 0 ? `job ${jobId} has no failed tasks` : `${requester} reran ${rerun} failed task${rerun === 1 ? '' : 's'} of job ${jobId}`;
}

/**
 * `qmod -cj` of a job not in error state (qfarm has none), word for word
 * (test/fixtures/sge/ownership.txt): waiting tasks are "in pending/hold state" (not a failure),
 * running ones "not in error state" (a failure, exit 1).
 */
export function clearErrorReplies(outcome: ClearErrorOutcome): ReplyLine[] {
  const { jobId, isArray } = outcome;
  const lines: ReplyLine[] = [];
  // Measured: an array names the job, a single job its one "array task".
  if (outcome.waiting) lines.push({ ok: true, text: `Modify operation can not be applied on ${isArray ? `job ${jobId}` : `job-array task ${jobId}.1`} in pending/hold state` });
  for (const taskId of outcome.active) lines.push({ ok: false, text: isArray ? `Job-array task ${jobId}.${taskId} is not in error state` : `Job ${jobId} is not in error state` });
  return lines;
}
