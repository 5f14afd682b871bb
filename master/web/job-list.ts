import type { Db } from '../store/database.js';
import { webReader, type JobListFilter } from '../store/web-reader.js';
import type { JobListPage, JobListRow } from '../../protocol/web-api.js';

export interface JobListQuery extends JobListFilter {
  offset: number;
  limit: number;
}

export const MAX_PAGE = 200;

/**
 * A page of jobs, newest first, filtered in SQL. Task counts come from one grouped query over
 * the page's jobs; an array job's undispatched ids are arithmetic on its range, so a
 * 100,000-task job costs what its dispatched rows cost.
 */
export function jobListPage(db: Db, query: JobListQuery): JobListPage {
  const store = webReader(db);
  const total = store.jobCount(query);
  const jobs = store.jobPage(query, query.offset, query.limit);
  if (jobs.length === 0) return { rows: [], total };
  const ids = jobs.map((j) => j.id);
  const counts = store.taskStateCounts(ids);
  const starts = store.jobStarts(ids);
  const startOf = new Map(starts.map((s) => [s.job_id, s.t]));
  const rows = jobs.map((job): JobListRow => {
    const total = Math.floor((job.last_task - job.first_task) / job.step) + 1;
    const row: JobListRow = {
      id: job.id,
      name: job.name,
      user: job.owner,
      group: job.queue ?? 'default',
      priority: job.priority,
      submitted: job.submit_time,
      started: startOf.get(job.id) ?? null,
      finishedAt: job.finish_time,
      state: 'waiting',
      total,
      running: 0,
      done: 0,
      failed: 0,
      deleted: 0,
      pending: 0,
    };
    for (const c of counts) {
      if (c.job_id !== job.id) continue;
      if (c.state === 'leased' || c.state === 'running') row.running += c.n;
      else if (c.state === 'done') (row.done += c.n - c.bad, (row.failed += c.bad));
      else if (c.state === 'deleted') row.deleted += c.n;
    }
    // Ids without a row are pending, unless the whole job was deleted.
    const accounted = row.running + row.done + row.failed + row.deleted;
    if (job.deleted) row.deleted += total - accounted - countPendingRows(counts, job.id);
    row.pending = Math.max(0, total - row.running - row.done - row.failed - row.deleted);
    row.state = job.finished ? (job.deleted ? 'deleted' : 'finished') : row.running > 0 ? 'running' : job.user_hold ? 'held' : 'waiting';
    return row;
  });
  return { rows, total };
}

function countPendingRows(counts: readonly { job_id: number; state: string; n: number }[], jobId: number): number {
  return counts.filter((c) => c.job_id === jobId && c.state === 'pending').reduce((s, c) => s + c.n, 0);
}
