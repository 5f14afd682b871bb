import { AttemptState } from '../states.js';
import type { JobRow } from './job-reader.js';
import { perDatabase, StoreReader } from './store-reader.js';

/** A task that ran to a committed result, with its job and its committed attempt. */
export interface AccountingRow extends Pick<JobRow, 'id' | 'name' | 'owner' | 'spec' | 'submit_time' | 'priority' | 'slots' | 'is_array'> {
  task_id: number;
  attempts: number;
  task_failed_code: number;
  hostname: string;
  group_name: string;
  started_at: number;
  ended_at: number;
  exit_status: number;
  signal: string | null;
  failed_reason: string | null;
  usage: string | null;
}

/** Which tasks `qacct` accounts; every field given narrows the records. */
export interface AccountingFilter {
  jobId?: number;
  jobName?: string;
  owner?: string;
}

/** The read behind `qacct` and `qfarm perf`. */
export class AccountingReader extends StoreReader {
  /** Committed results (tasks deleted before they ran are not accounted), by job and task. */
  rows(filter: AccountingFilter): AccountingRow[] {
    const where: string[] = [`a.state = '${AttemptState.Done}'`];
    const params: (string | number)[] = [];
    if (filter.jobId !== undefined) (where.push('j.id = ?'), params.push(filter.jobId));
    if (filter.jobName !== undefined) (where.push('j.name = ?'), params.push(filter.jobName));
    if (filter.owner !== undefined) (where.push('j.owner = ?'), params.push(filter.owner));
    return this.q(
      `SELECT j.id, j.name, j.owner, j.spec, j.submit_time, j.priority, j.slots, j.is_array, t.task_id, t.attempts,
              t.failed_code AS task_failed_code, a.hostname, a.group_name, a.started_at, a.ended_at, a.exit_status,
              a.signal, a.failed_reason, a.usage
       FROM tasks t JOIN attempts a ON a.id = t.attempt_id JOIN jobs j ON j.id = t.job_id
       WHERE ${where.join(' AND ')} ORDER BY j.id, t.task_id`,
    ).all(...params) as AccountingRow[];
  }
}

/** The store's accounting reader, one per database. */
export const accountingReader = perDatabase((db) => new AccountingReader(db));
