import type { GroupSpec } from '../../protocol/groups.js';
import type { JobSubmission } from '../../protocol/job-spec.js';
import type { JobRow } from '../store/job-reader.js';

/** Which jobs a group serves: by the job's `-q` list and its `-l` label requests. */

/** True if a job's `-q` list (null: any group) names this group (`g`, `g@host`, globs). */
export function queueNamesGroup(queue: string | null | undefined, group: string): boolean {
  if (!queue) return true;
  return queue.split(',').some((entry) => glob((entry.trim().split('@', 2)[0] || '*'), group));
}

function glob(pattern: string, value: string): boolean {
  if (pattern === '*' || pattern === value) return true;
  if (!pattern.includes('*') && !pattern.includes('?')) return false;
  return new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$').test(value);
}

/** A job may run in the group: its queue names it, and its `-l` requests match the labels the group defines. */
export function jobFitsGroup(job: Pick<JobRow, 'queue'>, sub: JobSubmission, spec: GroupSpec): boolean {
  if (!queueNamesGroup(job.queue, spec.name)) return false;
  for (const [name, wanted] of Object.entries(sub.resources.other)) {
    const have = spec.labels[name];
    if (have !== undefined && !glob(wanted, have)) return false;
  }
  return true;
}

