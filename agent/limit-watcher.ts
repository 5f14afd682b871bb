import type { TaskUsage } from '../protocol/agent-messages.js';
import type { AgentClock } from './clock.js';

/** Where a running task's usage comes from (TreeSampler reads it from /proc). */
export interface UsageSource {
  sample(): TaskUsage;
}

export interface LimitWatchOptions {
  source: UsageSource;
  clock: AgentClock;
  /** h_vmem of the whole task (the per-slot limit times its slots); null: no limit. */
  vmemLimitBytes: number | null;
  /** h_rt in seconds; null: no limit. */
  wallclockSeconds: number | null;
  /** How often usage is sampled and h_vmem checked. */
  sampleIntervalMs: number;
  /** How often a sample is reported; the first one is reported at once. */
  usageIntervalMs: number;
  onUsage(usage: TaskUsage): void;
  /** The first limit exceeded, with the reason the result gives; called at most once. */
  onLimit(reason: string): void;
  /** A sample failed (a process vanished mid-read); the next tick samples again. */
  onSampleError(err: unknown): void;
}

/** A short task still gets one sample, so even it shows up in qstat -j with usage. */
const FIRST_SAMPLE_MAX_DELAY_MS = 100;

/**
 * Samples a running task, reports its usage and tells when it exceeds h_vmem or h_rt. It only
 * reports: killing the task is the runner's decision (a qdel already under way wins).
 */
export class LimitWatcher {
  private lastUsageAt: number | undefined;
  private limitHit = false;
  private readonly cancels: Array<() => void> = [];

  constructor(private readonly opts: LimitWatchOptions) {}

  start(): void {
    const { clock, sampleIntervalMs, wallclockSeconds } = this.opts;
    this.cancels.push(clock.setTimeout(() => this.sampleOnce(), Math.min(FIRST_SAMPLE_MAX_DELAY_MS, sampleIntervalMs)));
    this.cancels.push(clock.setInterval(() => this.sampleOnce(), sampleIntervalMs));
    if (wallclockSeconds !== null) {
      this.cancels.push(clock.setTimeout(() => this.limit(`h_rt limit of ${wallclockSeconds}s exceeded`), wallclockSeconds * 1000));
    }
  }

  /** The task ended: no more samples, reports or limits. */
  stop(): void {
    for (const cancel of this.cancels.splice(0)) cancel();
  }

  private sampleOnce(): void {
    const { source, clock, vmemLimitBytes, usageIntervalMs } = this.opts;
    let usage: TaskUsage;
    try {
      usage = source.sample();
    } catch (err) {
      this.opts.onSampleError(err);
      return;
    }
    if (vmemLimitBytes !== null && usage.maxVmemBytes > vmemLimitBytes) {
      this.limit(`h_vmem limit of ${vmemLimitBytes} bytes exceeded (${usage.maxVmemBytes} bytes used)`);
    }
    const now = clock.now();
    if (this.lastUsageAt === undefined || now - this.lastUsageAt >= usageIntervalMs) {
      this.lastUsageAt = now;
      this.opts.onUsage(usage);
    }
  }

  private limit(reason: string): void {
    if (this.limitHit) return;
    this.limitHit = true;
    this.opts.onLimit(reason);
  }
}
