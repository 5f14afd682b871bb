import fs from 'node:fs';

/** The fields of /proc/PID/stat the agent uses (see proc(5)); times are in clock ticks. */
export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
  /** Start time in ticks since boot: with pid it names a process even after pid reuse. */
  starttime: number;
  vsize: number;
}

/** Linux reports CPU times in USER_HZ ticks, which is 100 on every Linux ABI (getconf CLK_TCK). */
export const CLOCK_TICKS_PER_SECOND = 100;

/** Parses one /proc/PID/stat line; `comm` may contain spaces and parentheses, so split at the last `)`. */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const f = (n: number): number => Number(rest[n - 3]);
  const stat: ProcStat = {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: f(4),
    pgrp: f(5),
    session: f(6),
    utime: f(14),
    stime: f(15),
    cutime: f(16),
    cstime: f(17),
    starttime: f(22),
    vsize: f(23),
  };
  return Number.isFinite(stat.pid) && Number.isFinite(stat.ppid) ? stat : undefined;
}

// /proc reads are synchronous on purpose: procfs files are generated in memory, a sync read costs
// microseconds, while fs/promises goes through the thread pool (open/fstat/read/close) and made a
// walk of ~100 processes take ~40 ms.
export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // exited meanwhile
  }
}

/** Every process on the machine, by pid. Processes that exit while we read are skipped. */
export function readProcessTable(): Map<number, ProcStat> {
  const table = new Map<number, ProcStat>();
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return table; // no procfs (not Linux): nothing to walk
  }
  for (const entry of entries) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    const stat = readProcStat(Number(entry));
    if (stat) table.set(stat.pid, stat);
  }
  return table;
}

/** A process identity that survives pid reuse. */
export const procKey = (stat: ProcStat): string => `${stat.pid}:${stat.starttime}`;

/**
 * The roots and all their descendants (following ppid links downward), plus every member of the
 * roots' process groups: a task that double-forked keeps its group even after reparenting to init.
 */
export function treeOf(table: Map<number, ProcStat>, roots: Iterable<number>, groups: Iterable<number> = []): ProcStat[] {
  const children = new Map<number, number[]>();
  for (const stat of table.values()) {
    const list = children.get(stat.ppid);
    if (list) list.push(stat.pid);
    else children.set(stat.ppid, [stat.pid]);
  }
  const seen = new Set<number>();
  const queue: number[] = [];
  for (const pid of roots) if (table.has(pid)) queue.push(pid);
  const groupSet = new Set(groups);
  if (groupSet.size > 0) for (const stat of table.values()) if (groupSet.has(stat.pgrp) && stat.pid !== 1) queue.push(stat.pid);
  const out: ProcStat[] = [];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    if (seen.has(pid) || pid <= 1 || pid === process.pid) continue;
    seen.add(pid);
    const stat = table.get(pid);
    if (!stat) continue;
    out.push(stat);
    for (const child of children.get(pid) ?? []) queue.push(child);
  }
  return out;
}
