import type { AccountingRecord } from '../../protocol/api.js';
import { zeroUsage, type TaskUsage } from '../../protocol/agent-messages.js';
import type { Db } from '../store/database.js';

/**
 * `qacct`: one record per task that ran to a committed result (tasks deleted before they ran
 * are not accounted, as in SGE). `job` is an id or a name.
 */
export function accountingRecords(db: Db, filter: { job?: string; owner?: string }): AccountingRecord[] {
  const where: string[] = [`a.state = 'done'`];
  const params: (string | number)[] = [];
  if (filter.job !== undefined) {
    if (/^\d+$/.test(filter.job)) {
      where.push('j.id = ?');
      params.push(Number(filter.job));
    } else {
      where.push('j.name = ?');
      params.push(filter.job);
    }
  }
  if (filter.owner !== undefined) {
    where.push('j.owner = ?');
    params.push(filter.owner);
  }
  const rows = db
    .prepare(
      `SELECT j.id, j.name, j.owner, j.spec, j.submit_time, j.priority, j.slots, j.is_array, t.task_id, t.attempts,
              t.failed_code AS task_failed_code, a.hostname, a.group_name, a.started_at, a.ended_at, a.exit_status,
              a.signal, a.failed_reason, a.usage
       FROM tasks t JOIN attempts a ON a.id = t.attempt_id JOIN jobs j ON j.id = t.job_id
       WHERE ${where.join(' AND ')} ORDER BY j.id, t.task_id`,
    )
    .all(...params) as {
    id: number; name: string; owner: string; spec: string; submit_time: number; priority: number; slots: number; is_array: number;
    task_id: number; attempts: number; task_failed_code: number; hostname: string; group_name: string; started_at: number; ended_at: number;
    exit_status: number; signal: string | null; failed_reason: string | null; usage: string | null;
  }[];
  return rows.map((r) => ({
    qname: r.group_name,
    hostname: r.hostname,
    group: (JSON.parse(r.spec) as { submitter: { group: string } }).submitter.group,
    owner: r.owner,
    jobname: r.name,
    jobnumber: r.id,
    taskid: r.is_array ? r.task_id : null,
    priority: r.priority,
    qsubTime: r.submit_time,
    startTime: r.started_at,
    endTime: r.ended_at,
    slots: r.slots,
    failedCode: r.task_failed_code,
    failedReason: r.failed_reason ?? '',
    exitStatus: r.exit_status,
    signal: r.signal,
    usage: r.usage ? (JSON.parse(r.usage) as TaskUsage) : zeroUsage(),
    attempts: r.attempts,
  }));
}
