import type { Logger } from 'pino';
import type { GroupSpec } from '../../protocol/groups.js';
import type { AgentHub } from '../agent-hub.js';
import { Autoscaler, type StepResult } from './autoscaler.js';
import type { ScalingPlan } from './scaling-state.js';
import type { Clock } from '../clock.js';
import type { MasterEventBus, MasterEvents } from '../events.js';
import { ProviderError } from '../providers/errors.js';
import type { ProviderLogger } from '../providers/provider.js';
import type { ProviderRegistry } from '../providers/provider-registry.js';
import type { Db } from '../store/database.js';
import { hostReader } from '../store/host-reader.js';
import type { JobReader } from '../store/job-reader.js';
import type { Transitions } from '../store/transitions.js';
import { agentViewsFor, groupNames, groupRow, groupRows, pendingWorkFor } from '../store/group-store.js';
import { queueNamesGroup } from './job-fit.js';
import type { JobSpecs } from '../job-specs.js';

/**
 * The master's side of the autoscaler: when the queue or the machines change (a job submitted,
 * a task finished, a host joined or left, a spot notice) the concerned groups are stepped,
 * debounced; a slow timer catches what no event announces (machines that never joined,
 * billing boundaries). Each pass's decisions are applied here: lost hosts are requeued at
 * once, reclaimed ones drained and their doomed attempts requeued as interrupted, victims drained.
 */

export interface AutoscaleLoopOptions {
  /** Wait after an event before stepping, so a burst of events makes one pass. @default 1000 */
  debounceMs?: number;
  /** Safety pass over every group. @default 30000 */
  intervalMs?: number;
  /** The master's parsed submissions, shared with the scheduler; without it each pass parses its own. */
  specs?: JobSpecs;
}

/** A pass for finished tasks waits this many debounces (settleForJob). */
const SETTLE_FACTOR = 10;

export class AutoscaleLoop {
  readonly autoscaler: Autoscaler;
  private readonly dirty = new Set<string>();
  /** Jobs whose groups a pass should look at, gathered over one turn of the event loop. */
  private readonly jobsToTrigger = new Set<number>();
  private debounceTimer: NodeJS.Timeout | undefined;
  /** Jobs that finished tasks since the last settled pass (see settleForJob). */
  private readonly finishedJobs = new Set<number>();
  private settleTimer: NodeJS.Timeout | undefined;
  private intervalTimer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly followUps = new Map<string, NodeJS.Timeout>();
  private stopped = false;
  private readonly debounceMs: number;
  private readonly intervalMs: number;

  constructor(
    private readonly db: Db,
    private readonly reader: JobReader,
    private readonly transitions: Transitions,
    private readonly hub: AgentHub,
    private readonly events: MasterEventBus,
    readonly providers: ProviderRegistry,
    clock: Clock,
    private readonly log: Logger,
    private readonly options: AutoscaleLoopOptions = {},
  ) {
    this.debounceMs = options.debounceMs ?? 1000;
    this.intervalMs = options.intervalMs ?? 30_000;
    const plog: ProviderLogger = {
      // Every pass's reasons are kept on the group (qfarm group show); in the log they are detail.
      info: (msg, fields) => (msg.startsWith('autoscaler: group ') ? log.debug(fields ?? {}, msg) : log.info(fields ?? {}, msg)),
      warn: (msg, fields) => log.warn(fields ?? {}, msg),
    };
    this.autoscaler = new Autoscaler({
      providerFor: (spec) => providers.providerFor(spec),
      clock,
      logger: plog,
      history: Object.fromEntries(groupRows(db).map((g) => [g.name, g.history])),
    });
  }

  start(): void {
    const on = <K extends keyof MasterEvents>(event: K, fn: (...args: MasterEvents[K]) => void): void => {
      this.events.on(event, fn as never);
      this.unsubscribe.push(() => this.events.off(event, fn as never));
    };
    on('job:submitted', (jobId) => this.triggerForJob(jobId));
    on('task:finished', (jobId) => this.settleForJob(jobId));
    on('host:online', (agentId) => {
      this.transitions.markHostFound(agentId);
      this.reapplyDrain(agentId);
      this.triggerForHost(agentId);
    });
    on('host:offline', (agentId) => this.triggerForHost(agentId));
    on('host:spot-notice', (agentId, hostname, terminationTime) => {
      this.transitions.recordSpotNotice(agentId, terminationTime);
      this.log.warn({ agent: hostname, terminationTime }, 'spot reclaim notice: stepping its group now');
      const group = this.groupOfHost(agentId);
      // A reclaim is urgent: no debounce.
      if (group) void this.stepNow(group);
    });
    this.intervalTimer = setInterval(() => this.trigger(groupRows(this.db).map((g) => g.name)), this.intervalMs);
    this.intervalTimer.unref();
    this.trigger(groupRows(this.db).map((g) => g.name));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.unsubscribe) off();
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    if (this.settleTimer) clearTimeout(this.settleTimer);
    if (this.intervalTimer) clearInterval(this.intervalTimer);
    for (const t of this.followUps.values()) clearTimeout(t);
    await Promise.allSettled([...this.inFlight]);
    await this.providers.close();
  }

  /** Asks for a pass of these groups after the debounce. */
  trigger(groups: Iterable<string>): void {
    if (this.stopped) return;
    for (const g of groups) this.dirty.add(g);
    if (this.dirty.size === 0 || this.debounceTimer) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      const names = [...this.dirty];
      this.dirty.clear();
      for (const name of names) void this.stepNow(name);
    }, this.debounceMs);
    this.debounceTimer.unref();
  }

  private followUp(name: string): void {
    if (this.stopped || this.followUps.has(name)) return;
    const timer = setTimeout(() => {
      this.followUps.delete(name);
      this.trigger([name]);
    }, Math.max(this.debounceMs, Math.min(5000, this.intervalMs)));
    timer.unref();
    this.followUps.set(name, timer);
  }

  /**
   * A job arriving concerns the groups its queue names. Jobs submitted in one turn (a workflow
   * engine's burst) are gathered and the groups table is read once for all of them.
   */
  private triggerForJob(jobId: number): void {
    if (this.stopped) return;
    // One read per turn: only the first job of the turn schedules it (a job seen again in the
    // same turn is added without growing the set).
    const scheduled = this.jobsToTrigger.size > 0;
    this.jobsToTrigger.add(jobId);
    if (scheduled) return;
    setImmediate(() => {
      const jobs = [...this.jobsToTrigger];
      this.jobsToTrigger.clear();
      if (!this.stopped) this.trigger(this.groupsOf(jobs));
    });
  }

  /**
   * A finished task asks nothing of a group at once: the queue only shrank, and idle machines
   * wait out idleSeconds before they go. Its pass comes after SETTLE_FACTOR debounces, so under
   * load (thousands of tasks finishing a second) a group of thousands of hosts is looked at
   * every 10 s rather than every second; a pass costs time in proportion to the group's hosts.
   */
  private settleForJob(jobId: number): void {
    if (this.stopped) return;
    this.finishedJobs.add(jobId);
    if (this.settleTimer) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      const jobs = [...this.finishedJobs];
      this.finishedJobs.clear();
      this.trigger(this.groupsOf(jobs));
    }, this.debounceMs * SETTLE_FACTOR);
    this.settleTimer.unref();
  }

  /** The groups whose queues the jobs name, reading the groups table once. */
  private groupsOf(jobIds: readonly number[]): Set<string> {
    const names = groupNames(this.db);
    const concerned = new Set<string>();
    for (const id of jobIds) {
      const job = this.reader.listRow(id);
      if (job) for (const name of names) if (queueNamesGroup(job.queue, name)) concerned.add(name);
    }
    return concerned;
  }

  private triggerForHost(agentId: string): void {
    const group = this.groupOfHost(agentId);
    if (group) this.trigger([group]);
  }

  private groupOfHost(agentId: string): string | undefined {
    return hostReader(this.db).groupOf(agentId);
  }

  /** A drained or reclaimed host that reconnects is a new session: it must not get work again. */
  private reapplyDrain(agentId: string): void {
    const row = hostReader(this.db).drainState(agentId);
    if (row && (row.draining || row.interrupted_at !== null)) this.drainSession(agentId, 'drained before it reconnected');
  }

  private drainSession(agentId: string, reason: string): void {
    const session = this.hub.session(agentId);
    if (!session) return;
    session.drain();
    session.send({ type: 'drain', reason });
  }

  /**
   * One pass for one group now; resolves with its result (undefined if the group is gone or the
   * pass failed as a whole — the error is recorded on the group and logged).
   */
  stepNow(name: string): Promise<StepResult | undefined> {
    const run = this.step(name);
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
    return run;
  }

  private async step(name: string): Promise<StepResult | undefined> {
    if (this.stopped) return undefined;
    const row = groupRow(this.db, name);
    if (!row) return undefined;
    // Deleting is explicit: idle machines go now, paid-for time or not. With autoscaling off the
    // size is a person's decision, not the queue's: idle machines beyond it go without waiting.
    const spec: GroupSpec = row.deleting
      ? { ...row.spec, minSize: 0, maxSize: 0, desiredSize: 0, billing: { unitSeconds: 1, minimumSeconds: 0 }, autoscale: { ...row.spec.autoscale, idleSeconds: 0, scaleInCooldownSeconds: 0 } }
      : row.spec.autoscale.enabled
        ? row.spec
        : { ...row.spec, autoscale: { ...row.spec.autoscale, idleSeconds: 0, scaleInCooldownSeconds: 0 } };
    let result: StepResult;
    let managed = false;
    try {
      const specs = this.options.specs;
      const pending = pendingWorkFor(this.db, this.reader, spec, specs && ((jobId) => specs.of(jobId)));
      const agents = await agentViewsFor(this.db, name, {
        isConnected: (id) => this.hub.session(id) !== undefined,
        unwrittenLastEndOf: (id) => this.transitions.unwrittenLastEndOf(id),
      });
      if (this.stopped) return undefined;
      managed = agents.some((a) => a.instanceId !== undefined);
      result = await this.autoscaler.step({ spec, pending, agents });
    } catch (err) {
      const message = err instanceof ProviderError ? err.message : `autoscaler pass failed for group ${name}: ${(err as Error).message}`;
      this.log.warn({ group: name, err: message }, 'autoscaler pass failed; retried on the next event or timer');
      if (groupRow(this.db, name)) {
        this.transitions.recordGroupDecision(name, { desired: row.desired, reasons: row.reasons, historyJson: JSON.stringify(row.history), lastError: message });
      }
      return undefined;
    }
    if (this.stopped) return result;
    this.apply(name, result);
    const lastError =
      result.errors[0]?.message ??
      // An error stays shown until the group gets what it wanted (a quiet pass in a cooldown proves nothing).
      (result.launched.length > 0 || result.plan.healthy >= result.plan.desired ? null : row.lastError);
    this.transitions.recordGroupDecision(name, {
      desired: result.plan.desired,
      reasons: result.plan.reasons,
      historyJson: JSON.stringify(this.autoscaler.history(name)),
      lastError,
    });
    // Not at its size yet (idle machines waiting out idleSeconds, cooldowns, drains): no event
    // may come to say when, so look again soon rather than at the next safety pass.
    // (Agents started by hand, as `qfarm up` does, are never scaled in: no reason to look again for them.)
    const { plan } = result;
    const unsettled = plan.desired > plan.healthy || (plan.desired < plan.healthy && managed) || plan.drain.length > 0 || plan.markInterrupted.length > 0;
    if (unsettled || result.launched.length > 0 || result.terminated.length > 0 || row.deleting) this.followUp(name);
    if (row.deleting) {
      await this.finishDeleteIfEmpty(name, spec).catch((err: unknown) =>
        this.log.warn({ group: name, err: (err as Error).message }, 'cannot list the machines of a group being deleted; retried on the next pass'),
      );
    }
    return result;
  }

  private apply(group: string, result: StepResult): void {
    const { plan } = result;
    for (const inst of result.launched) this.transitions.resetHostsOfInstance(inst.id);
    this.applyLost(plan);
    this.applyInterrupted(plan);
    for (const d of plan.drain) {
      this.transitions.setHostDraining(d.agentId, true);
      this.drainSession(d.agentId, d.reason);
    }
    if (result.launched.length || result.terminated.length) {
      this.log.info({ group, launched: result.launched.map((i) => i.id), terminated: result.terminated }, 'group resized');
    }
  }

  private applyLost(plan: ScalingPlan): void {
    for (const d of plan.markLost) {
      const n = this.transitions.markHostLost(d.agentId, `host lost: instance gone (${d.reason})`);
      this.log.warn({ agent: d.agentId, requeued: n }, d.reason);
    }
  }

  private applyInterrupted(plan: ScalingPlan): void {
    for (const d of plan.markInterrupted) {
      this.drainSession(d.agentId, d.reason);
      // Kill first, then requeue: the kill's result arrives for an attempt no longer current and is discarded.
      for (const attemptId of d.requeue) this.hub.sendKill(d.agentId, attemptId, `spot reclaim: ${d.reason}`);
      const n = this.transitions.markHostInterrupted(d.agentId, d.requeue, `interrupted: ${d.reason}`);
      this.log.warn({ agent: d.agentId, requeued: n }, d.reason);
    }
  }

  /** A deleted group's row goes once its provider lists no machine. */
  async finishDeleteIfEmpty(name: string, spec: GroupSpec): Promise<boolean> {
    const left = await this.providers.providerFor(spec).list(spec);
    if (left.length > 0) return false;
    this.transitions.deleteGroup(name);
    this.log.info({ group: name }, 'group deleted: no machine left');
    return true;
  }
}
