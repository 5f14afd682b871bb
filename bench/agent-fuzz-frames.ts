import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { seededRandom } from '../render/plan.js';

/**
 * A seeded, bounded fuzzer of the agent protocol, shared by the suite's test
 * (test/e2e/agent-protocol-fuzz.test.ts, a few thousand frames) and `npm run bench:fuzz`
 * (>= 100,000 frames). It opens agent connections to a real master with the real agent token
 * and sends random, truncated, oversized, mistyped and wrong-owner frames, several per
 * connection without waiting (a refused frame closes the connection; what follows must not be
 * acted on). The same seed sends the same frames.
 */

export interface FuzzOptions {
  /** The master's http:// URL. */
  url: string;
  agentToken: string;
  /** Frames to send in all. */
  frames: number;
  seed: number;
  /** Attempts leased to real agents: wrong-owner frames name them. */
  victimAttempts: readonly string[];
  /** Agent ids of real, live agents: some hellos reuse them. */
  victimAgentIds: readonly string[];
  /** Connections open at once. @default 4 */
  concurrency?: number;
  /** Called every `progressEvery` frames. */
  onProgress?: (sent: number) => void;
  progressEvery?: number;
}

export interface FuzzReport {
  sent: number;
  connections: number;
  /** How the master closed the connections, by close code. */
  closes: Record<string, number>;
  /** Frames of each kind sent. */
  kinds: Record<string, number>;
}

/** Frames that name an attempt: finished, output, started, usage, uploading (FrameMaker.attemptFrame). */
const ATTEMPT_FRAME_KINDS = 5;

/** Agent ids the fuzzer's own hellos use: few, so the master's hosts table stays small. */
const FUZZ_AGENT_IDS = Array.from({ length: 6 }, (_, i) => `fuzz-agent-${i}`);

class FrameMaker {
  constructor(
    private readonly rand: () => number,
    private readonly opts: FuzzOptions,
  ) {}

  int(n: number): number {
    return Math.floor(this.rand() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  attemptId(): string {
    const r = this.rand();
    if (r < 0.6 && this.opts.victimAttempts.length > 0) return this.pick(this.opts.victimAttempts);
    if (r < 0.8) return randomUUIDFrom(this.rand);
    return this.junkString(this.int(100));
  }

  junkString(length: number): string {
    const alphabet = 'aZ09 -_"\\/{}[]:,é€😀\u0000\n\t';
    let s = '';
    for (let i = 0; i < length; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }

  hello(): Record<string, unknown> {
    const agentId = this.rand() < 0.25 && this.opts.victimAgentIds.length > 0 ? this.pick(this.opts.victimAgentIds) : this.pick(FUZZ_AGENT_IDS);
    return {
      type: 'hello', protocolVersion: this.rand() < 0.95 ? 1 : this.int(5), agentVersion: 'fuzz', agentId,
      hostname: this.rand() < 0.5 ? `fuzz-${agentId}` : 'ü'.repeat(1 + this.int(120)), group: 'fuzz', arch: 'lx-amd64',
      cpus: 1, sockets: 1, cores: 1, threads: 1, slots: 1 + this.int(4), memTotalBytes: 1 << 30, swapTotalBytes: 0,
      labels: {}, attempts: this.rand() < 0.3 ? [this.attemptId()] : [],
    };
  }

  /** A frame the schema accepts, about an attempt the sender most likely does not own. */
  validFrame(): Record<string, unknown> {
    const attemptId = this.attemptId();
    const kind = this.int(ATTEMPT_FRAME_KINDS + 3);
    if (kind < ATTEMPT_FRAME_KINDS) return this.attemptFrame(kind, attemptId);
    switch (kind - ATTEMPT_FRAME_KINDS) {
      case 0:
        return { type: 'heartbeat', load1: this.rand(), memUsedBytes: 1, swapUsedBytes: 0, running: [] };
      case 1:
        return this.hello();
      default:
        return { type: 'spot-notice', terminationTime: new Date().toISOString() };
    }
  }

  /** A frame the schema accepts about a real agent's attempt: the master must refuse it (4403). */
  foreignFrame(): Record<string, unknown> {
    return this.attemptFrame(this.int(ATTEMPT_FRAME_KINDS), this.pick(this.opts.victimAttempts));
  }

  /** One of the frames that name an attempt (kind 0..ATTEMPT_FRAME_KINDS-1). */
  private attemptFrame(kind: number, attemptId: string): Record<string, unknown> {
    const usage = { cpuSeconds: 1, utimeSeconds: 1, stimeSeconds: 0, rssBytes: 1, maxRssBytes: 1, vmemBytes: 1, maxVmemBytes: 1, ioBytes: 0 };
    switch (kind) {
      case 0:
        return { type: 'finished', attemptId, exitStatus: this.int(256), signal: null, failedCode: 0, failedReason: '', startedAt: 0, endedAt: 1, usage, ...(this.rand() < 0.3 ? { retryable: true } : {}) };
      case 1:
        return { type: 'output', attemptId, stream: 'stdout', seq: this.rand() < 0.5 ? this.int(10) : Number.MAX_SAFE_INTEGER - this.int(10), data: Buffer.from('fuzz\n').toString('base64') };
      case 2:
        return { type: 'started', attemptId, pid: this.int(1 << 20), startedAt: Date.now() };
      case 3:
        return { type: 'usage', attemptId, usage };
      default:
        return { type: 'uploading', attemptId };
    }
  }

  /** One frame of a random kind; returns its kind and its text (or bytes). */
  frame(): { kind: string; data: string | Buffer } {
    const r = this.rand();
    if (r < 0.3) return { kind: 'wrong-owner', data: JSON.stringify(this.validFrame()) };
    if (r < 0.45) {
      const text = JSON.stringify(this.validFrame());
      return { kind: 'truncated', data: text.slice(0, this.int(text.length)) };
    }
    if (r < 0.6) return { kind: 'mistyped', data: JSON.stringify(this.mutate(this.validFrame())) };
    if (r < 0.7) return { kind: 'garbage', data: this.junkString(this.int(200)) };
    if (r < 0.75) return { kind: 'binary', data: Buffer.from(this.junkString(this.int(64))) };
    if (r < 0.8) {
      const depth = 1000 + this.int(100_000);
      return { kind: 'deep', data: '['.repeat(depth) + (this.rand() < 0.5 ? ']'.repeat(depth) : '') };
    }
    if (r < 0.83) return { kind: 'oversized', data: this.oversized() };
    return { kind: 'valid', data: JSON.stringify(this.validFrame()) };
  }

  private mutate(frame: Record<string, unknown>): Record<string, unknown> {
    const keys = Object.keys(frame);
    const key = this.pick(keys);
    const values: unknown[] = [null, -1, 1e308, '', 'x'.repeat(1000), [], {}, true, { nested: [1, 2, 3] }, Number.MAX_SAFE_INTEGER + 2];
    const out = { ...frame, [key]: this.pick(values) };
    if (this.rand() < 0.3) out[`extra${this.int(10)}`] = this.junkString(20);
    if (this.rand() < 0.2) delete out[this.pick(keys)];
    return out;
  }

  /** Bigger than a schema maximum (a 2 MiB output chunk, a 20,000-attempt hello, 1,000 labels). */
  private oversized(): string {
    switch (this.int(3)) {
      case 0:
        return JSON.stringify({ type: 'output', attemptId: this.attemptId(), stream: 'stdout', seq: 0, data: 'A'.repeat(2 * 1024 * 1024) });
      case 1:
        return JSON.stringify({ ...this.hello(), attempts: Array.from({ length: 20_000 }, () => 'x') });
      default:
        return JSON.stringify({ ...this.hello(), labels: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, 'v'])) });
    }
  }
}

function randomUUIDFrom(rand: () => number): string {
  // Deterministic from the seed (crypto.randomUUID is not); the shape is all that matters.
  const hex = (n: number): string => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');
  return `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
}

/** Runs the fuzzer to completion and reports what was sent and how the master answered. */
export async function fuzzAgentProtocol(opts: FuzzOptions): Promise<FuzzReport> {
  const rand = seededRandom(opts.seed);
  const maker = new FrameMaker(rand, opts);
  const report: FuzzReport = { sent: 0, connections: 0, closes: {}, kinds: {} };
  const wsUrl = opts.url.replace(/^http/, 'ws') + '/agent';
  const progressEvery = opts.progressEvery ?? 10_000;

  const oneConnection = async (worker: number): Promise<void> => {
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${opts.agentToken}` }, maxPayload: 1024 * 1024 });
    report.connections++;
    const closed = new Promise<void>((resolve) => {
      ws.on('close', (code) => {
        report.closes[code] = (report.closes[code] ?? 0) + 1;
        resolve();
      });
      ws.on('error', () => resolve());
      ws.on('unexpected-response', (_req, res) => {
        report.closes[`http-${res.statusCode}`] = (report.closes[`http-${res.statusCode}`] ?? 0) + 1;
        res.resume();
        resolve();
      });
    });
    ws.on('message', () => undefined);
    await new Promise<void>((resolve) => {
      ws.once('open', () => resolve());
      void closed.then(() => resolve());
    });
    if (ws.readyState === WebSocket.OPEN) {
      // Most connections say hello first so that post-hello frames reach the ownership checks.
      const burst = 1 + maker.int(40);
      const frames: { kind: string; data: string | Buffer }[] = [];
      if (rand() < 0.1 && opts.victimAttempts.length > 0) {
        // A probe: a good hello (an id of this worker's own, so no other live connection holds
        // it), then only frames about a real agent's attempt. In a mixed burst a malformed
        // frame read in the same turn closes the connection (4400) before the ownership check
        // runs, so which code comes depends on the machine's speed; here it can only be 4403.
        frames.push({ kind: 'hello', data: JSON.stringify({ ...maker.hello(), agentId: `fuzz-probe-${worker}`, protocolVersion: 1 }) });
        while (frames.length < burst + 1) frames.push({ kind: 'wrong-owner', data: JSON.stringify(maker.foreignFrame()) });
      } else {
        if (rand() < 0.8) frames.push({ kind: 'hello', data: JSON.stringify(maker.hello()) });
        while (frames.length < burst) frames.push(maker.frame());
      }
      for (const f of frames) {
        if (report.sent >= opts.frames || ws.readyState !== WebSocket.OPEN) break;
        ws.send(f.data, { binary: Buffer.isBuffer(f.data) });
        report.sent++;
        report.kinds[f.kind] = (report.kinds[f.kind] ?? 0) + 1;
        if (report.sent % progressEvery === 0) opts.onProgress?.(report.sent);
      }
      // Give the master a moment to answer, then leave (it may already have closed us).
      setTimeout(() => ws.readyState === WebSocket.OPEN && ws.close(1000, 'fuzz'), 20 + maker.int(50));
      setTimeout(() => ws.terminate(), 2000).unref();
    }
    await closed;
  };

  const worker = async (index: number): Promise<void> => {
    while (report.sent < opts.frames) await oneConnection(index);
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, (_, index) => worker(index)));
  return report;
}

/** Resident memory of a process in bytes, from /proc. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) * 1024;
}
