import type { AgentHub } from '../agent-hub.js';

/** One sample every 10 s; 360 of them are the last hour a host's chart shows. */
export const HOST_SAMPLE_MS = 10_000;
const SAMPLES = 360;

interface Ring {
  times: Float64Array;
  loads: Float32Array;
  memUsed: Float64Array;
  next: number;
  count: number;
}

/**
 * The last hour of load and memory per host, for the dashboard's host charts: a fixed ring per
 * hostname, filled from what heartbeats left on the hub's sessions (no extra agent traffic, no
 * store writes). Lost on a master restart, like the load itself.
 */
export class HostHistory {
  private readonly rings = new Map<string, Ring>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly hub: AgentHub,
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
        ring = { times: new Float64Array(SAMPLES), loads: new Float32Array(SAMPLES), memUsed: new Float64Array(SAMPLES), next: 0, count: 0 };
        this.rings.set(session.hostname, ring);
      }
      ring.times[ring.next] = t;
      ring.loads[ring.next] = session.load1;
      ring.memUsed[ring.next] = session.memUsedBytes;
      ring.next = (ring.next + 1) % SAMPLES;
      ring.count = Math.min(ring.count + 1, SAMPLES);
    }
    this.onSample();
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
