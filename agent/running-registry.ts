import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { readProcStat } from './proc-table.js';
import { ProcessTree, taggedProcesses } from './process-tree.js';
import { TASK_TAG_VAR } from './task-environment.js';

interface Entry {
  pid: number;
  /** /proc start time of the task's first process: guards against pid reuse. */
  starttime: number;
  /** The task's environment tag (QFARM_TASK_TAG), which all its processes inherit. */
  tag: string;
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

  add(attemptId: string, pid: number, tag: string): void {
    const stat = readProcStat(pid);
    if (!stat) return; // already gone
    this.entries.set(attemptId, { pid, starttime: stat.starttime, tag });
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
      if (typeof entry?.pid !== 'number' || typeof entry.starttime !== 'number' || typeof entry.tag !== 'string') continue;
      const tag = { name: TASK_TAG_VAR, value: entry.tag };
      const root = readProcStat(entry.pid);
      const rootAlive = root !== undefined && root.starttime === entry.starttime && root.state !== 'Z';
      // The tag finds the task's processes wherever they went; the root only if it is still the same process.
      const pids = [...(rootAlive ? [entry.pid] : []), ...taggedProcesses(tag.name, tag.value)];
      for (const pid of new Set(pids)) {
        this.log.warn({ attemptId, pid }, 'killing a task process left running by a previous agent process');
        await new ProcessTree(pid, pid === entry.pid ? tag : undefined).kill(0);
        killed++;
      }
    }
    this.entries.clear();
    this.save();
    return killed;
  }
}
