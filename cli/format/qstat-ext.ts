import type { QstatRow } from '../../protocol/api.js';
import type { TaskUsage } from '../../protocol/agent-messages.js';
import { bytesPerGB } from './sge-memory.js';
import { taskColumn } from './qstat-table.js';

/** `qstat -ext`'s header, as SGE 8.1.9 prints it (test/fixtures/sge/qstat.txt). */
export const QSTAT_EXT_HEADER =
  'job-ID  prior   ntckts  name       user         project          department state cpu        mem     io      tckts ovrts otckt ftckt stckt share queue                          slots ja-task-ID \n' +
  `${'-'.repeat(192)}\n`;

const two = (n: number): string => String(n).padStart(2, '0');

/** `0:00:00:05`: SGE's d:hh:mm:ss of CPU time. */
function cpuText(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 86400)}:${two(Math.floor((s % 86400) / 3600))}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
}

/**
 * `qstat -ext`: the default columns plus SGE's ticket and usage columns. qfarm has no projects,
 * departments or share tree: project `NA`, department `defaultdep`(artment), tickets 0, as SGE
 * shows them without a share tree. `ntckts` is 0.5 for a job that may run, 0 for a held one.
 * Running tasks show cpu, mem (GB s, estimated as in qstat -j) and io (GB) from their last
 * sample, `NA` before the first one; pending rows leave them blank.
 */
export function formatQstatExt(rows: readonly QstatRow[], usageOf: (row: QstatRow) => TaskUsage | null): string {
  if (rows.length === 0) return '';
  let text = QSTAT_EXT_HEADER;
  for (const row of rows) {
    const running = row.queue !== '';
    const usage = running ? usageOf(row) : null;
    const cpu = !running ? '' : usage ? cpuText(usage.cpuSeconds) : 'NA';
    const mem = !running ? '' : usage ? ((usage.maxVmemBytes / bytesPerGB) * usage.cpuSeconds).toFixed(5) : 'NA';
    const io = !running ? '' : usage ? (usage.ioBytes / bytesPerGB).toFixed(5) : 'NA';
    const ntckts = row.state.startsWith('h') ? '0.00000' : '0.50000';
    text +=
      `${String(row.jobId).padStart(7)} ${row.prior.toFixed(5).padEnd(7)} ${ntckts} ${row.name.slice(0, 10).padEnd(10)} ${row.owner.slice(0, 12).padEnd(12)} ` +
      `${'NA'.padEnd(16)} ${'defaultdep'} ${row.state.padEnd(5)} ${cpu.padEnd(10)} ${mem.padEnd(7)} ${io.padEnd(7)} ` +
      `${[0, 0, 0, 0, 0].map((n) => String(n).padStart(5)).join(' ')} ${'0.00'.padEnd(5)} ${row.queue.slice(0, 30).padEnd(30)} ${String(row.slots).padStart(5)} ${taskColumn(row)}\n`;
  }
  return text;
}
