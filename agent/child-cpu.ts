import fs from 'node:fs';
import { CLOCK_TICKS_PER_SECOND, parseProcStat } from './proc-table.js';

/**
 * CPU of tasks too short for the 1 s sampler (`/bin/true`): when the agent reaps a child, the
 * kernel adds the child's CPU (and that of every descendant it reaped) to the agent's own
 * cutime/cstime. Reading /proc/self/stat right after each exit and attributing the difference
 * to that task is exact when one child exits at a time. When several children are reaped in the
 * same event-loop turn, the difference cannot be split honestly, so none of them gets it (they
 * keep their sampled figures, a lower bound).
 */
export class ChildCpuAccount {
  private last = readSelfChildTicks();
  private batch: Array<(utime: number, stime: number) => void> = [];

  /**
   * Call synchronously from a child's exit handler. Resolves (after this event-loop turn) with the
   * CPU seconds the kernel charged for that child's tree, or undefined when it cannot be told apart.
   */
  childExited(): Promise<{ utimeSeconds: number; stimeSeconds: number } | undefined> {
    return new Promise((resolve) => this.enqueue((utimeSeconds, stimeSeconds) => resolve(utimeSeconds < 0 ? undefined : { utimeSeconds, stimeSeconds })));
  }

  private enqueue(credit: (utimeSeconds: number, stimeSeconds: number) => void): void {
    this.batch.push(credit);
    if (this.batch.length > 1) return;
    const before = this.last;
    const now = readSelfChildTicks();
    this.last = now;
    setImmediate(() => {
      const batch = this.batch;
      this.batch = [];
      // Only a lone exit in this turn owns the whole difference.
      if (batch.length === 1 && now && before) {
        batch[0]!((now.cutime - before.cutime) / CLOCK_TICKS_PER_SECOND, (now.cstime - before.cstime) / CLOCK_TICKS_PER_SECOND);
      } else {
        for (const credit of batch) credit(-1, -1);
      }
    });
  }
}

function readSelfChildTicks(): { cutime: number; cstime: number } | undefined {
  try {
    const stat = parseProcStat(fs.readFileSync('/proc/self/stat', 'utf8'));
    return stat ? { cutime: stat.cutime, cstime: stat.cstime } : undefined;
  } catch {
    return undefined; // not Linux
  }
}
