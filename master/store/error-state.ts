import type { Db } from './database.js';
import type { JobReader, JobRow } from './job-reader.js';
import { checkOwner, type Actor } from './ownership.js';

/**
 * `qmod -cj`: clear a job's error state. qfarm has no error state (a task that cannot run is
 * failed with its reason, test/e2e/attacks.test.ts), so there is never anything to clear; what
 * is left is SGE 8.1.9's answer for a job not in error, word for word
 * (test/fixtures/sge/ownership.txt): waiting tasks are "in pending/hold state" (not a failure),
 * running ones "not in error state" (a failure, exit 1). Another user's job is refused first.
 */
export function clearErrorState(db: Db, reader: JobReader, job: JobRow, actor: Actor): { ok: boolean; text: string }[] {
  checkOwner(job, actor, 'clear');
  const messages: { ok: boolean; text: string }[] = [];
  const requeued = db.prepare(`SELECT COUNT(*) FROM tasks WHERE job_id = ? AND state = 'pending'`).pluck().get(job.id) as number;
  if (requeued + reader.undispatchedCount(job) > 0) {
    // Measured: an array names the job, a single job its one "array task".
    messages.push({ ok: true, text: `Modify operation can not be applied on ${job.is_array ? `job ${job.id}` : `job-array task ${job.id}.1`} in pending/hold state` });
  }
  const active = db.prepare(`SELECT task_id FROM tasks WHERE job_id = ? AND state IN ('leased', 'running') ORDER BY task_id`).pluck().all(job.id) as number[];
  for (const taskId of active) messages.push({ ok: false, text: job.is_array ? `Job-array task ${job.id}.${taskId} is not in error state` : `Job ${job.id} is not in error state` });
  return messages;
}
