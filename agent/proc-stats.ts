import fs from 'node:fs';
import { zeroUsage, type TaskUsage } from '../protocol/agent-messages.js';
import { CLOCK_TICKS_PER_SECOND, readProcessTable, type ProcStat } from './proc-table.js';
import type { ProcessTree } from './process-tree.js';

/** Memory and I/O of one process, from /proc/PID/status (kB figures, so page size does not matter) and io. */
function readMemIo(pid: number): { rss: number; vmem: number; io: number | undefined } {
  let rss = 0;
  let vmem = 0;
  let io: number | undefined;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssMatch = /^VmRSS:\s+(\d+)/m.exec(status);
    const vmMatch = /^VmSize:\s+(\d+)/m.exec(status);
    rss = rssMatch ? Number(rssMatch[1]) * 1024 : 0;
    vmem = vmMatch ? Number(vmMatch[1]) * 1024 : 0;
  } catch {
    // exited meanwhile
  }
  try {
    const text = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
    const r = /^rchar:\s+(\d+)/m.exec(text);
    const w = /^wchar:\s+(\d+)/m.exec(text);
    io = (r ? Number(r[1]) : 0) + (w ? Number(w[1]) : 0);
  } catch {
    // /proc/PID/io needs ptrace rights; unreadable for other users' processes unless we are root
  }
  return { rss, vmem, io };
}

/** Seconds rounded to the clock tick, so 0.57 + 0.04 prints as 0.61, not 0.6100000000000001. */
const tick = (seconds: number): number => Math.round(seconds * CLOCK_TICKS_PER_SECOND) / CLOCK_TICKS_PER_SECOND;

/**
 * Samples a task's whole process tree. Every figure is a lower bound kept monotonic:
 * - CPU: the larger of (a) the sum over every process ever seen of its last utime/stime, and
 *   (b) the sum over live processes of utime+stime+cutime+cstime (children they reaped).
 *   Either can miss a process that lived between two samples; `addReapedCpu` tops up with what
 *   the kernel charged the agent when it reaped the task's first process (see child-cpu.ts).
 * - rss/vmem: current sums over live processes, with their maxima.
 * - io: sum over every process ever seen of its last rchar+wchar.
 */
export class TreeSampler {
  private readonly lastSelf = new Map<string, { utime: number; stime: number; io: number }>();
  private usage: TaskUsage = zeroUsage();

  constructor(private readonly tree: ProcessTree) {}

  get current(): TaskUsage {
    return { ...this.usage };
  }

  sample(table?: Map<number, ProcStat>): TaskUsage {
    const members = this.tree.members(table ?? readProcessTable());
    let liveUtime = 0;
    let liveStime = 0;
    let rss = 0;
    let vmem = 0;
    const memIo = members.map((m) => readMemIo(m.pid));
    members.forEach((m, i) => {
      liveUtime += m.utime + m.cutime;
      liveStime += m.stime + m.cstime;
      const mi = memIo[i]!;
      rss += mi.rss;
      vmem += mi.vmem;
      const key = `${m.pid}:${m.starttime}`;
      const prev = this.lastSelf.get(key);
      this.lastSelf.set(key, { utime: m.utime, stime: m.stime, io: mi.io ?? prev?.io ?? 0 });
    });
    let seenUtime = 0;
    let seenStime = 0;
    let io = 0;
    for (const v of this.lastSelf.values()) {
      seenUtime += v.utime;
      seenStime += v.stime;
      io += v.io;
    }
    const u = this.usage;
    const utimeSeconds = tick(Math.max(u.utimeSeconds, Math.max(seenUtime, liveUtime) / CLOCK_TICKS_PER_SECOND));
    const stimeSeconds = tick(Math.max(u.stimeSeconds, Math.max(seenStime, liveStime) / CLOCK_TICKS_PER_SECOND));
    this.usage = {
      utimeSeconds,
      stimeSeconds,
      cpuSeconds: tick(utimeSeconds + stimeSeconds),
      rssBytes: rss,
      maxRssBytes: Math.max(u.maxRssBytes, rss),
      vmemBytes: vmem,
      maxVmemBytes: Math.max(u.maxVmemBytes, vmem),
      ioBytes: Math.max(u.ioBytes, io),
    };
    return this.current;
  }

  /** Raises CPU to at least what the kernel charged for the reaped tree (utime/stime in seconds). */
  addReapedCpu(utimeSeconds: number, stimeSeconds: number): void {
    const u = this.usage;
    u.utimeSeconds = tick(Math.max(u.utimeSeconds, utimeSeconds));
    u.stimeSeconds = tick(Math.max(u.stimeSeconds, stimeSeconds));
    u.cpuSeconds = tick(u.utimeSeconds + u.stimeSeconds);
  }

  /** The task ended: nothing is live any more. */
  finish(): TaskUsage {
    this.usage.rssBytes = 0;
    this.usage.vmemBytes = 0;
    return this.current;
  }
}
