import type { AccountingRecord } from '../../protocol/api.js';
import { bytesPerGB } from './sge-memory.js';
import { wallclockSeconds } from './qacct-job.js';

interface Totals {
  wallclock: number;
  utime: number;
  stime: number;
  cpu: number;
  io: number;
}

function total(records: readonly AccountingRecord[]): Totals {
  const t: Totals = { wallclock: 0, utime: 0, stime: 0, cpu: 0, io: 0 };
  for (const r of records) {
    t.wallclock += wallclockSeconds(r);
    t.utime += r.usage.utimeSeconds;
    t.stime += r.usage.stimeSeconds;
    t.cpu += r.usage.cpuSeconds;
    t.io += r.usage.ioBytes / bytesPerGB;
  }
  return t;
}

const COLUMNS = '    WALLCLOCK         UTIME         STIME           CPU             MEMORY                 IO                IOW';

function numbers(t: Totals): string {
  // MEMORY (GB s) and IOW are not sampled by qfarm: printed as 0, as SGE prints them when unknown.
  return `${t.wallclock.toFixed(0).padStart(13)}${t.utime.toFixed(3).padStart(14)}${t.stime.toFixed(3).padStart(14)}${t.cpu.toFixed(3).padStart(14)}${(0).toFixed(3).padStart(19)}${t.io.toFixed(3).padStart(19)}${(0).toFixed(3).padStart(19)}`;
}

/** Bare `qacct`: the Total System Usage table. */
export function formatTotalUsage(records: readonly AccountingRecord[]): string {
  return `Total System Usage\n${COLUMNS}\n${'='.repeat(COLUMNS.length)}\n${numbers(total(records))}\n`;
}

/** `qacct -o [owner]`: one line per owner, sorted by name. */
export function formatOwnerUsage(records: readonly AccountingRecord[], onlyOwner?: string): string {
  const owners = [...new Set(records.map((r) => r.owner))].filter((o) => onlyOwner === undefined || o === onlyOwner).sort();
  const width = Math.max('OWNER'.length, ...owners.map((o) => o.length)) + 1;
  const header = `${'OWNER'.padEnd(width)}${COLUMNS}`;
  let text = `${header}\n${'='.repeat(header.length)}\n`;
  for (const owner of owners) text += `${owner.padEnd(width)}${numbers(total(records.filter((r) => r.owner === owner)))}\n`;
  return text;
}
