import type { QstatRow } from '../../protocol/api.js';
import { qstatDate } from './sge-time.js';

/** The header of `qstat`; it ends in a blank after `ja-task-ID`, as SGE's does. */
export const QSTAT_HEADER =
  'job-ID  prior   name       user         state submit/start at     queue                          slots ja-task-ID \n' +
  '-----------------------------------------------------------------------------------------------------------------\n';

/** The columns every job line shares, in `qstat` and `qstat -f`. */
export function jobColumns(row: QstatRow): string {
  return `${String(row.jobId).padStart(7)} ${row.prior.toFixed(5).padEnd(7)} ${row.name.slice(0, 10).padEnd(10)} ${row.owner.slice(0, 12).padEnd(12)} ${row.state.padEnd(5)} ${qstatDate(row.time)}`;
}

/** The last column: the task ids, or blanks where a plain job has none. */
export function taskColumn(row: QstatRow): string {
  return row.tasks === '' ? '       ' : row.tasks;
}

/**
 * `qstat` (default view): one line per running task and per group of pending tasks. An empty
 * list prints nothing at all, not even the header, exactly as SGE (scripts test for that).
 */
export function formatQstat(rows: readonly QstatRow[]): string {
  if (rows.length === 0) return '';
  let text = QSTAT_HEADER;
  for (const row of rows) {
    text += `${jobColumns(row)} ${row.queue.slice(0, 30).padEnd(30)} ${String(row.slots).padStart(5)} ${taskColumn(row)}\n`;
  }
  return text;
}
