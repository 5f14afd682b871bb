import type { AccountingRecord } from '../../protocol/api.js';
import { zeroUsage, type TaskUsage } from '../../protocol/agent-messages.js';
import { accountingReader } from '../store/accounting-reader.js';
import type { Db } from '../store/database.js';

/**
 * `qacct`: one record per task that ran to a committed result (tasks deleted before they ran
 * are not accounted, as in SGE). `job` is an id or a name.
 */
export function accountingRecords(db: Db, filter: { job?: string; owner?: string }): AccountingRecord[] {
  const job = filter.job === undefined ? {} : /^\d+$/.test(filter.job) ? { jobId: Number(filter.job) } : { jobName: filter.job };
  const rows = accountingReader(db).rows({ ...job, ...(filter.owner !== undefined ? { owner: filter.owner } : {}) });
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
