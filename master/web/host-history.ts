import type { AgentSession } from '../agent-session.js';

/** One sample every 10 s; 360 of them are the last hour a host's chart shows. */
export const HOST_SAMPLE_MS = 10_000;
const SAMPLES = 360;
/** A host unheard of for this long has nothing left to chart: its ring goes back to the pool. */
const FORGET_AFTER_MS = SAMPLES * HOST_SAMPLE_MS;
/**
 * Rings are cut from slabs of this many: 2,000 hosts joining at once allocated 6,000 typed
 * arrays in one sample, a 13 ms stall of the master (bench:agents); now ~32 slabs.
 */
const RINGS_PER_SLAB = 64;

interface Ring {
  times: Float64Array;
  loads: Float32Array;
  memUsed: Float64Array;
  next: number;
  count: number;
  lastAt: number;
}

/** What the history reads of the hub: its sessions' hostnames and last heartbeat figures. */
export interface SampledHosts {
  sessionsList(): readonly Pick<AgentSession, 'hostname' | 'load1' | 'memUsedBytes'>[];
}

/** Rings handed out from shared slabs and taken back for reuse. */
class RingPool {
  private readonly free: Ring[] = [];
  slabs = 0;

  take(): Ring {
    if (this.free.length === 0) this.addSlab();
    const ring = this.free.pop()!;
    ring.next = 0;
    ring.count = 0;
    return ring;
  }

  give(ring: Ring): void {
    this.free.push(ring);
  }

  private addSlab(): void {
    this.slabs++;
    const times = new Float64Array(RINGS_PER_SLAB * SAMPLES);
    const loads = new Float32Array(RINGS_PER_SLAB * SAMPLES);
    const memUsed = new Float64Array(RINGS_PER_SLAB * SAMPLES);
    for (let i = RINGS_PER_SLAB - 1; i >= 0; i--) {
      const [from, to] = [i * SAMPLES, (i + 1) * SAMPLES];
      this.free.push({ times: times.subarray(from, to), loads: loads.subarray(from, to), memUsed: memUsed.subarray(from, to), next: 0, count: 0, lastAt: 0 });
    }
  }
}

/**
 * The last hour of load and memory per host, for the dashboard's host charts: a fixed ring per
 * hostname, filled from what heartbeats left on the hub's sessions (no extra agent traffic, no
 * store writes). Lost on a master restart, like the load itself. A host gone for an hour is
 * forgotten, so cloud machines coming and going do not add up.
 */
export class HostHistory {
  private readonly rings = new Map<string, Ring>();
  private readonly pool = new RingPool();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly hub: SampledHosts,
    private readonly onSample: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), HOST_SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  sample(): void {
    const t = this.now();
    for (const session of this.hub.sessionsList()) {
      let ring = this.rings.get(session.hostname);
      if (!ring) {
        ring = this.pool.take();
        this.rings.set(session.hostname, ring);
      }
      ring.times[ring.next] = t;
      ring.loads[ring.next] = session.load1;
      ring.memUsed[ring.next] = session.memUsedBytes;
      ring.next = (ring.next + 1) % SAMPLES;
      ring.count = Math.min(ring.count + 1, SAMPLES);
      ring.lastAt = t;
    }
    for (const [hostname, ring] of this.rings) {
      if (t - ring.lastAt < FORGET_AFTER_MS) continue;
      this.rings.delete(hostname);
      this.pool.give(ring);
    }
    this.onSample();
  }

  /** Hosts with a history, and the slabs their rings came from (for tests). */
  get counts(): { hosts: number; slabs: number } {
    return { hosts: this.rings.size, slabs: this.pool.slabs };
  }

  /** Oldest first: [times in ms, load averages, memory used in bytes]. */
  series(hostname: string): { times: number[]; loads: number[]; memUsed: number[] } {
    const ring = this.rings.get(hostname);
    const out = { times: [] as number[], loads: [] as number[], memUsed: [] as number[] };
    if (!ring) return out;
    for (let i = 0; i < ring.count; i++) {
      const at = (ring.next - ring.count + i + SAMPLES) % SAMPLES;
      out.times.push(ring.times[at]!);
      out.loads.push(Math.round(ring.loads[at]! * 100) / 100);
      out.memUsed.push(ring.memUsed[at]!);
    }
    return out;
  }
}
