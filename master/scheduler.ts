import type { Logger } from 'pino';
import type { JobSubmission } from '../protocol/job-spec.js';
import { AssignmentTexts } from './assignment-text.js';
import type { JobSpecs } from './job-specs.js';
import type { AgentHub, HostCapacity } from './agent-hub.js';
import type { MasterEventBus } from './events.js';
import { hostMismatch } from '../protocol/host-match.js';
import { attemptReader } from './store/attempt-reader.js';
import type { Db } from './store/database.js';
import { hostReader } from './store/host-reader.js';
import type { JobListRow, JobReader } from './store/job-reader.js';
import type { TickTransaction } from './store/tick-transaction.js';
import type { Transitions } from './store/transitions.js';

/**
 * Leases made by one pass at most. A 100,000-task array arriving at a farm of thousands of free
 * slots would otherwise hold the event loop for one long turn (about 50 µs a lease here); the
 * pass goes on in the next turn, after the frames and API calls that came in meanwhile. 256 made
 * turns of ~14 ms that every refill arriving meanwhile waited for (bench:agents: refill p99 in
 * the master 12-17 ms against 8.5 at 64).
 */
const LEASES_PER_PASS = 64;
/** Runnable jobs read at a time, and looked at by one pass at most (as the single read of 1,000 before). */
const JOBS_PER_PAGE = 32;
const MAX_JOBS_PER_PASS = 1000;

/**
 * Event-driven scheduler: every `schedule:wanted` event (a job submitted, a slot freed, a host
 * joined, a hold released) asks for one pass; passes requested while one is pending coalesce
 * into it. There is no polling interval: an idle farm does no scheduling work at all.
 *
 * A pass takes runnable jobs by priority, then submission order, and spreads each job's tasks
 * round-robin over the hosts that can run them, one lease transaction per job and host.
 */
export class Scheduler {
  private pending = false;
  private stopped = false;
  /** Wakes the scheduler at the earliest `qsub -a` start time in the future. */
  private startTimer: NodeJS.Timeout | undefined;
  private startTimerAt = 0;
  /** Compiled once (the store's readers): every pass (thousands a second under load) asks it. */
  private readonly disabledHostnames: () => string[];
  private readonly assignments = new AssignmentTexts();
  /** Hosts where an attempt of the task failed for the node's reasons (requeued attempts). */
  private readonly hostsThatFailed: (jobId: number, taskId: number) => string[];
  passes = 0;

  constructor(
    db: Db,
    private readonly reader: JobReader,
    private readonly transitions: Transitions,
    private readonly hub: AgentHub,
    private readonly events: MasterEventBus,
    private readonly log: Logger,
    /** Hosts in SGE's error state `E` (master/host-health.ts): they take no new tasks. */
    private readonly hostsInError: () => string[],
    /** A pass runs in the turn's one transaction, after the results that freed its slots. */
    private readonly tick: TickTransaction,
    private readonly specs: JobSpecs,
  ) {
    const hosts = hostReader(db);
    this.disabledHostnames = () => hosts.disabledHostnames();
    const attempts = attemptReader(db);
    this.hostsThatFailed = (jobId, taskId) => attempts.hostsWhereFailed(jobId, taskId);
    events.on('schedule:wanted', () => this.request());
  }

  /** qalter changed the job's submission. */
  forgetSpec(jobId: number): void {
    this.specs.forget(jobId);
  }

  request(): void {
    if (this.pending || this.stopped) return;
    this.pending = true;
    this.tick.enqueue(() => {
      this.pending = false;
      if (this.stopped) return;
      try {
        this.pass();
      } catch (err) {
        this.log.error({ err }, 'scheduling pass failed; will retry on the next event');
      }
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.startTimer);
  }

  /** One timer for the earliest future start time (`qsub -a`); it asks for a pass when due. */
  private armStartTimer(): void {
    const next = this.reader.nextStartAfter();
    if (next === null || (this.startTimer !== undefined && this.startTimerAt === next)) return;
    clearTimeout(this.startTimer);
    this.startTimerAt = next;
    // setTimeout holds at most 2^31-1 ms; a later start re-arms when this one fires.
    const delay = Math.min(Math.max(0, next - Date.now()) + 5, 2 ** 31 - 1);
    this.startTimer = setTimeout(() => {
      this.startTimer = undefined;
      this.events.emit('schedule:wanted', 'a job\'s start time (qsub -a) was reached');
    }, delay);
    this.startTimer.unref();
  }

  private pass(): void {
    this.passes++;
    this.armStartTimer();
    const leasedTo = new Set<string>();
    if (this.placeWork(leasedTo)) this.hub.refills.passEnded(leasedTo);
  }

  /**
   * Fills the free slots from the runnable jobs, a page at a time: a pass that fills them with the
   * first few jobs reads only those, however deep the queue. False when the lease budget ran out
   * and the pass goes on in the next turn.
   */
  private placeWork(leasedTo: Set<string>): boolean {
    let page = this.reader.runnableJobs(JOBS_PER_PAGE, Date.now());
    // Nothing queued (a farm finishing its last tasks: a pass per result): no look at the hosts.
    if (page.length === 0) return true;
    const disabled = new Set([...this.disabledHostnames(), ...this.hostsInError()]);
    const capacity = this.hub.capacity(disabled);
    let budget = LEASES_PER_PASS;
    for (let looked = 0; looked < MAX_JOBS_PER_PASS; ) {
      for (const job of page) {
        if (!capacity.some((h) => h.free > 0)) return true;
        budget -= this.placeJob(job, capacity, disabled, budget, leasedTo);
        if (budget <= 0) {
          // The rest in the next turn: results, heartbeats and API calls are not kept waiting.
          setImmediate(() => this.request());
          return false;
        }
      }
      if (page.length < JOBS_PER_PAGE) return true;
      looked += page.length;
      page = this.reader.runnableJobs(JOBS_PER_PAGE, Date.now(), page.at(-1));
    }
    return true;
  }

  private specOf(job: JobListRow): JobSubmission {
    // Parsed once per job: a pass reads no submission JSON but a new job's.
    return this.specs.of(job.id)!;
  }

  /**
   * Flamenco's blocklist: a task is not run again on a host where it already failed, while
   * another connected host that could take the job (busy or not) has not failed it; otherwise
   * it may, up to its attempts.
   */
  private failedHere(jobId: number, taskId: number, hostname: string, spec: JobSubmission, unavailable: ReadonlySet<string>): boolean {
    const failed = this.hostsThatFailed(jobId, taskId);
    if (!failed.includes(hostname)) return false;
    return this.hub
      .sessionsList()
      .some((s) => !failed.includes(s.hostname) && !unavailable.has(s.hostname) && hostMismatch(spec, { hello: s.hello, memUsedBytes: s.memUsedBytes }) === null);
  }

  /**
   * Leases up to `budget` of the job's tasks on the hosts that fit it, spread round-robin;
   * returns how many. A host may take fewer than it was offered (the blocklist: the task failed
   * there; or tasks gated by -hold_jid_ad): what it refused is offered to the other hosts.
   */
  private placeJob(job: JobListRow, capacity: HostCapacity[], unavailable: ReadonlySet<string>, budget: number, leasedTo: Set<string>): number {
    const spec = this.specOf(job);
    const eligible = capacity.filter(
      (h) => h.free >= job.slots && hostMismatch(spec, { hello: h.session.hello, memUsedBytes: h.session.memUsedBytes }) === null,
    );
    if (eligible.length === 0) return 0;
    let remaining = Math.min(budget, this.reader.pendingCount(job));
    let leased = 0;
    const refused = new Set<HostCapacity>();
    while (remaining > 0) {
      const candidates = eligible.filter((h) => !refused.has(h) && h.free >= job.slots);
      if (candidates.length === 0) break;
      for (const [host, count] of this.spread(candidates, remaining, job.slots)) {
        const { session } = host;
        const leases = this.transitions.leaseTasks(job, { agentId: session.agentId, hostname: session.hostname, group: session.group }, count, (taskId) =>
          this.failedHere(job.id, taskId, session.hostname, spec, unavailable),
        );
        host.free += (count - leases.length) * job.slots;
        if (leases.length < count) refused.add(host);
        leased += leases.length;
        remaining -= leases.length;
        if (leases.length > 0) leasedTo.add(session.agentId);
        for (const lease of leases) {
          this.hub.noteAssigned(session, lease.attemptId, lease.jobId, lease.taskId, job.slots);
          // Sent once the lease is durable: an agent never runs an attempt the store may not have.
          const assignment = this.assignments.text(job, spec, lease, session.group);
          this.tick.afterCommit(() => {
            session.sendSerialized(assignment);
            this.hub.refills.assigned(session.agentId);
          });
        }
      }
      // Every host took what it was offered: what remains has no free slot to go to.
      if (refused.size === 0) break;
    }
    return leased;
  }

  /** `count` tasks of `slots` each over the hosts, one per host in turn, most free slots first; takes their slots. */
  private spread(hosts: HostCapacity[], count: number, slots: number): Map<HostCapacity, number> {
    const allocation = new Map<HostCapacity, number>();
    let remaining = count;
    while (remaining > 0) {
      let placed = false;
      hosts.sort((a, b) => b.free - a.free);
      for (const host of hosts) {
        if (remaining === 0 || host.free < slots) continue;
        allocation.set(host, (allocation.get(host) ?? 0) + 1);
        host.free -= slots;
        remaining--;
        placed = true;
      }
      if (!placed) break;
    }
    return allocation;
  }
}
