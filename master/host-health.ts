import type { Logger } from 'pino';
import { FailedCode, type TaskFinished } from '../protocol/agent-messages.js';
import type { Clock } from './clock.js';
import type { MasterEventBus } from './events.js';
import type { Db } from './store/database.js';
import { HostErrorTable, type HostError } from './store/host-errors.js';

/**
 * Black-hole nodes: a host that fails every task at once (renderer missing, disk full, bad
 * image) would otherwise consume the whole queue in seconds. A host goes into SGE's error state
 * `E` (qstat -f, qhost -q; `qmod -c` clears it) after `errorAfter` consecutive results that say
 * the host is at fault:
 *
 * - setup failures the agent reports as the node's (`retryable`: staging, uploads, an agent
 *   error before the task ran), or
 * - failures of `errorAfter` different jobs of at least two users in a row (one job failing
 *   everywhere is that job's problem, and one user's failing jobs are that user's: a hostile
 *   user could otherwise take every host out of service with a few jobs that `exit 1`).
 *
 * A success ends the streak; tasks killed by qdel or for their limits do not count either way.
 * The state is kept in the store (master/store/host-errors.ts) so it survives a master restart; the
 * streaks are not (they restart from zero). A host in error takes no new tasks; its running
 * ones finish.
 */
export interface HostHealthOptions {
  /** Consecutive failures before `E`; 0 turns the rule off. @default 3 (env QFARM_HOST_ERROR_AFTER) */
  errorAfter: number;
}

export const DEFAULT_HOST_ERROR_AFTER = 3;

/**
 * Jobs a streak remembers. One user's failures alone never end a streak, so a user failing job
 * after job would otherwise grow it without bound; past this, only a new user's job is added.
 */
const MAX_STREAK_JOBS = 1000;
/** Job ids a reason names; the count says how many there were. */
const REASON_JOB_IDS = 10;

interface Streak {
  /** Consecutive node (setup) failures. */
  setup: number;
  /** Jobs with a failed task since the last success, and their owners. */
  jobs: Map<number, string>;
}

export class HostHealth {
  private readonly streaks = new Map<string, Streak>();
  private readonly table: HostErrorTable;

  constructor(
    db: Db,
    /** A job's owner (undefined when the job is gone). */
    private readonly ownerOf: (jobId: number) => string | undefined,
    private readonly clock: Clock,
    private readonly events: MasterEventBus,
    private readonly log: Logger,
    private readonly options: HostHealthOptions,
  ) {
    this.table = new HostErrorTable(db);
    events.on('attempt:result', (hostname, jobId, result) => this.noteResult(hostname, jobId, result));
  }

  /** Hosts in error state: the scheduler gives them nothing. */
  hostsInError(): string[] {
    return this.table.hostnames();
  }

  errors(): Map<string, HostError> {
    return new Map(this.table.all().map((r) => [r.hostname, r]));
  }

  /** `qmod -c`: clears the error state; false when the host was not in it. */
  clear(hostname: string): boolean {
    this.streaks.delete(hostname);
    const cleared = this.table.clear(hostname);
    if (cleared) {
      this.log.info({ host: hostname }, 'host error state cleared');
      this.events.emit('host:state-changed', hostname);
    }
    return cleared;
  }

  private noteResult(hostname: string, jobId: number, result: TaskFinished): void {
    if (this.options.errorAfter <= 0) return;
    const succeeded = result.failedCode === FailedCode.None && result.exitStatus === 0;
    if (succeeded) {
      this.streaks.delete(hostname);
      return;
    }
    // qdel and limit kills say nothing about the host.
    if (result.failedCode === FailedCode.AfterJob || result.failedCode === FailedCode.LimitExceeded) return;
    const streak = this.streaks.get(hostname) ?? { setup: 0, jobs: new Map<number, string>() };
    this.streaks.set(hostname, streak);
    if (result.retryable) streak.setup++;
    const owners = new Set(streak.jobs.values());
    if (!streak.jobs.has(jobId)) {
      const owner = this.ownerOf(jobId) ?? '';
      if (streak.jobs.size < MAX_STREAK_JOBS || !owners.has(owner)) {
        streak.jobs.set(jobId, owner);
        owners.add(owner);
      }
    }
    const n = this.options.errorAfter;
    let reason: string | undefined;
    if (streak.setup >= n) reason = `${streak.setup} consecutive setup failures on host ${hostname}, the last of job ${jobId}: ${result.failedReason}`;
    else if (streak.jobs.size >= n && owners.size >= 2) {
      const ids = [...streak.jobs.keys()];
      const named = ids.slice(0, REASON_JOB_IDS).join(', ') + (ids.length > REASON_JOB_IDS ? ', …' : '');
      const count = ids.length > MAX_STREAK_JOBS ? `more than ${MAX_STREAK_JOBS}` : String(ids.length);
      reason = `tasks of ${count} different jobs (${named}) of ${owners.size} users failed in a row on host ${hostname}, the last of job ${jobId}`;
    }
    if (!reason) return;
    this.streaks.delete(hostname);
    const inserted = this.table.record(hostname, this.clock.now(), reason);
    if (!inserted) return;
    this.log.warn({ host: hostname, reason }, "host put in error state E: it takes no new tasks until 'qmod -c' clears it");
    this.events.emit('host:state-changed', hostname);
  }
}
