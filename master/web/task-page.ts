import type { Db } from '../store/database.js';
import type { JobRow } from '../store/job-reader.js';
import { webReader } from '../store/web-reader.js';
import type { TaskPage, TaskPageRow } from '../../protocol/web-api.js';

/**
 * A page of one job's tasks. Only the page's ids are looked at: tasks without a row (not yet
 * dispatched) are computed from the range and cursor, so page 900 of a 100,000-task array costs
 * the same as page 1.
 */
export function taskPage(db: Db, job: JobRow, offset: number, limit: number): TaskPage {
  const total = Math.floor((job.last_task - job.first_task) / job.step) + 1;
  const first = job.first_task + offset * job.step;
  const last = Math.min(job.last_task, first + (limit - 1) * job.step);
  if (offset >= total) return { rows: [], total };
  const stored = webReader(db).taskPage(job.id, first, last);
  const byId = new Map(stored.map((r) => [r.task_id, r]));
  const rows: TaskPageRow[] = [];
  for (let id = first; id <= last; id += job.step) {
    const r = byId.get(id);
    if (!r) {
      rows.push({ taskId: id, state: job.deleted ? 'deleted' : 'pending', host: null, attempts: 0, started: null, ended: null, exitStatus: null, failedReason: null, cpuSeconds: null, rssBytes: null });
      continue;
    }
    const usage = r.usage ? (JSON.parse(r.usage) as { cpuSeconds?: number; rssBytes?: number }) : undefined;
    rows.push({
      taskId: id,
      state: r.state === 'done' && (r.exit_status ?? 0) !== 0 ? 'failed' : r.state,
      host: r.hostname,
      attempts: r.attempts,
      started: r.started_at ?? r.leased_at,
      ended: r.ended_at,
      exitStatus: r.exit_status,
      failedReason: r.failed_reason,
      cpuSeconds: usage?.cpuSeconds ?? null,
      rssBytes: usage?.rssBytes ?? null,
    });
  }
  return { rows, total };
}
