import fs from 'node:fs';
import { sleep, systemClock, type AgentClock } from './clock.js';
import { readProcessTable, readProcStat, treeOf, procKey, type ProcStat } from './proc-table.js';

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: already gone. EPERM cannot happen for our own children when we spawned them.
  }
}

/**
 * The processes of one task. It remembers every process it has seen (pid + start time), because a
 * process whose parent died is reparented to init and can no longer be found by walking down from
 * the task's pid; qdel must still kill it.
 */
export class ProcessTree {
  private readonly known = new Map<string, number>();

  constructor(
    /** The task's first process; it leads its own session and process group (spawned detached). */
    readonly rootPid: number,
    /** The environment tag every process of the task inherits (see taggedProcesses). */
    private readonly tag?: { name: string; value: string },
    /** Times the grace period between the warning signal and SIGKILL. */
    private readonly clock: AgentClock = systemClock,
  ) {}

  /** Remembers every live process carrying the task's tag, wherever it moved to. */
  private adoptTagged(): void {
    if (!this.tag) return;
    for (const pid of taggedProcesses(this.tag.name, this.tag.value)) {
      const stat = readProcStat(pid);
      if (stat) this.known.set(procKey(stat), pid);
    }
  }

  /** Current members: descendants of the root and of every remembered process, plus the root's group. */
  members(table: Map<number, ProcStat>): ProcStat[] {
    const roots = [this.rootPid];
    for (const [key, pid] of this.known) {
      const stat = table.get(pid);
      if (stat && procKey(stat) === key) roots.push(pid);
      else this.known.delete(key); // exited (or pid reused by a stranger)
    }
    const members = treeOf(table, roots, [this.rootPid]).filter((s) => s.state !== 'Z' && s.state !== 'X');
    for (const stat of members) this.known.set(procKey(stat), stat.pid);
    return members;
  }

  /** Refreshes the remembered set from a fresh /proc walk. */
  refresh(): ProcStat[] {
    return this.members(readProcessTable());
  }

  /**
   * After the task's first process ended: kills whatever it left behind. The common case — an
   * empty process group and no remembered process alive — is answered without walking all of
   * /proc (that walk costs milliseconds per task, which matters for thousands of short tasks).
   */
  async killLeftovers(): Promise<void> {
    let groupAlive = true;
    try {
      process.kill(-this.rootPid, 0);
    } catch (err) {
      groupAlive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    const rememberedAlive = [...this.known].some(([key, pid]) => {
      const stat = readProcStat(pid);
      return stat !== undefined && procKey(stat) === key && stat.state !== 'Z' && stat.state !== 'X';
    });
    if (groupAlive || rememberedAlive) await this.kill(0);
  }

  /**
   * Kills the whole tree. With graceMs > 0: `warnSignal` (SIGTERM; SIGUSR2 for `qsub -notify`)
   * to all, wait up to graceMs for them to exit.
   * Then: SIGSTOP every member until the tree stops growing (so nothing forks away while we kill),
   * then SIGKILL all. Resolves when no member is left (or after a bounded number of rounds).
   */
  async kill(graceMs: number, warnSignal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.adoptTagged();
    let members = this.refresh();
    if (graceMs > 0 && members.length > 0) {
      signalGroup(this.rootPid, warnSignal);
      for (const m of members) signalPid(m.pid, warnSignal);
      const deadline = this.clock.now() + graceMs;
      while (this.clock.now() < deadline) {
        await sleep(this.clock, Math.min(100, graceMs));
        members = this.refresh();
        if (members.length === 0) return;
      }
    }
    for (let round = 0; round < 20; round++) {
      if (round > 0) this.adoptTagged();
      members = this.refresh();
      if (members.length === 0) return;
      // Freeze first: a SIGKILLed parent's children would otherwise keep forking as orphans.
      signalGroup(this.rootPid, 'SIGSTOP');
      for (const m of members) signalPid(m.pid, 'SIGSTOP');
      const again = this.refresh();
      signalGroup(this.rootPid, 'SIGKILL');
      for (const m of again) signalPid(m.pid, 'SIGKILL');
      for (const m of members) signalPid(m.pid, 'SIGKILL');
      await sleep(this.clock, round < 3 ? 20 : 100);
    }
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  if (pgid > 1) signalPid(-pgid, signal);
}

/**
 * Processes (other than the agent) whose environment carries `NAME=value`: every process of a task
 * inherits the tag the agent put in its environment, so a daemon that double-forked out of the
 * task's session between two samples is still recognisable (the same idea as Jenkins' BUILD_ID
 * cookie). Reading every /proc/PID/environ costs a few milliseconds, so this runs only on kills.
 */
export function taggedProcesses(name: string, value: string): number[] {
  const needle = Buffer.from(`\0${name}=${value}\0`);
  const first = Buffer.from(`${name}=${value}\0`);
  const found: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57 || Number(entry) === process.pid) continue;
    try {
      const env = fs.readFileSync(`/proc/${entry}/environ`);
      if (env.includes(needle) || env.subarray(0, first.length).equals(first)) found.push(Number(entry));
    } catch {
      // gone, or another user's process and we are not root: not one of ours then
    }
  }
  return found;
}
