import type { JobReader, JobRow } from '../store/job-reader.js';
import { RequestRefusedError } from './errors.js';

/**
 * Why a task has no output to show (it has no attempt): it is not one of the job's tasks, it
 * was deleted before it ever ran, or it simply has not started. Each says so, with what to do.
 */
export function noOutputError(reader: JobReader, job: JobRow, taskId: number, taskState: string | undefined): RequestRefusedError {
  const inRange = taskId >= job.first_task && taskId <= job.last_task && (taskId - job.first_task) % job.step === 0;
  if (!inRange) {
    const tasks = job.is_array ? `its tasks are ${job.first_task}-${job.last_task}:${job.step}` : `it is not an array job: 'qfarm logs ${job.id}'`;
    return new RequestRefusedError(404, `job ${job.id} has no task ${taskId}`, tasks);
  }
  const inDeletedRange = reader.deletedRanges(job.id).some((r) => taskId >= r.first && taskId <= r.last);
  if (job.deleted || taskState === 'deleted' || inDeletedRange || job.finished) {
    return new RequestRefusedError(404, `task ${job.id}.${taskId} was deleted before it started: it has no output`, `'qacct -j ${job.id}' shows what ran`);
  }
  return new RequestRefusedError(404, `task ${job.id}.${taskId} has not started yet`, `'qstat -j ${job.id}' says why it waits`);
}
