import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { readProcessTable, readProcStat } from './proc-table.js';
import { ProcessTree } from './process-tree.js';

interface Entry {
  pid: number;
  /** /proc start time of the task's first process: guards against pid reuse. */
  starttime: number;
}

/**
 * The tasks this agent process is running, mirrored to `<state dir>/running.json`. Tasks run in
 * their own sessions, so they outlive an agent killed with SIGKILL; the master then runs them
 * again elsewhere. A restarted agent reads the file and kills what its predecessor left running,
 * so a task never runs twice at once because of an agent crash.
 */
export class RunningRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly file: string;

  constructor(stateDir: string, private readonly log: Logger) {
    this.file = path.join(stateDir, 'running.json');
  }

  add(attemptId: string, pid: number): void {
    const stat = readProcStat(pid);
    if (!stat) return; // already gone
    this.entries.set(attemptId, { pid, starttime: stat.starttime });
    this.save();
  }

  remove(attemptId: string): void {
    if (this.entries.delete(attemptId)) this.save();
  }

  private save(): void {
    // Small and rare (task start/end): a synchronous write-and-rename keeps it simple and atomic.
    const tmp = `${this.file}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.entries)), { mode: 0o600 });
      fs.renameSync(tmp, this.file);
    } catch (err) {
      this.log.warn({ err, file: this.file }, 'cannot record running tasks; a crash of this agent could leave them running');
    }
  }

  /** Kills the task trees a previous agent process left behind, then starts an empty record. */
  async reapOrphans(): Promise<number> {
    let previous: Record<string, Entry> = {};
    try {
      previous = JSON.parse(fs.readFileSync(this.file, 'utf8')) as Record<string, Entry>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err, file: this.file }, 'unreadable record of running tasks; ignoring it');
    }
    let killed = 0;
    for (const [attemptId, entry] of Object.entries(previous)) {
      if (typeof entry?.pid !== 'number' || typeof entry.starttime !== 'number') continue;
      const root = readProcStat(entry.pid);
      if (root && root.starttime === entry.starttime && root.state !== 'Z') {
        this.log.warn({ attemptId, pid: entry.pid }, 'killing a task left running by a previous agent process');
        await new ProcessTree(entry.pid).kill(0);
        killed++;
        continue;
      }
      // First process gone: its group may live on; only processes younger than it can be its own.
      const strays = [...readProcessTable().values()].filter((p) => p.pgrp === entry.pid && p.starttime >= entry.starttime && p.state !== 'Z');
      for (const p of strays) {
        this.log.warn({ attemptId, pid: p.pid }, 'killing a process left running by a previous agent process');
        await new ProcessTree(p.pid).kill(0);
        killed++;
      }
    }
    this.entries.clear();
    this.save();
    return killed;
  }
}
