import { WebSocket } from 'ws';

/** A hello as a real agent sends it; tests override fields to probe the master's bounds. */
export function helloFrame(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'hello', protocolVersion: 1, agentVersion: 'fake', agentId: `fake-${Math.random().toString(36).slice(2)}`,
    hostname: 'fake-host', group: 'fake', arch: 'lx-amd64', cpus: 1, sockets: 1, cores: 1, threads: 1, slots: 1,
    memTotalBytes: 1 << 30, swapTotalBytes: 0, labels: {}, attempts: [],
    ...overrides,
  };
}

export interface Closed {
  code: number;
  reason: string;
}

/**
 * A hand-driven agent connection for protocol tests: a real WebSocket to a real master that
 * sends whatever frames the test gives it (valid, forged or broken) and records what comes back.
 */
export class FakeAgent {
  readonly received: Record<string, unknown>[] = [];
  readonly closed: Promise<Closed>;
  private waiters: { type: string; resolve: (m: Record<string, unknown>) => void }[] = [];

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data) => {
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(data.toString()) as Record<string, unknown>;
      } catch {
        return;
      }
      this.received.push(frame);
      this.waiters = this.waiters.filter((w) => (w.type === frame['type'] ? (w.resolve(frame), false) : true));
    });
    ws.on('error', () => undefined);
  }

  /** Opens the socket with the agent token; resolves once it is open. */
  static open(url: string, token: string): Promise<FakeAgent> {
    const wsUrl = url.replace(/^http/, 'ws') + '/agent';
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new FakeAgent(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`agent socket refused: HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** Opens, says hello and waits for `welcome` (or the close that refused it). */
  static async join(url: string, token: string, hello: Record<string, unknown> = helloFrame()): Promise<FakeAgent> {
    const agent = await FakeAgent.open(url, token);
    agent.send(hello);
    const outcome = await Promise.race([agent.next('welcome'), agent.closed]);
    if (!('type' in outcome)) throw new Error(`hello refused: close ${outcome.code} ${outcome.reason}`);
    return agent;
  }

  send(frame: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The next frame of this type (one already received counts). */
  next(type: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const already = this.received.find((f) => f['type'] === type);
    if (already) {
      this.received.splice(this.received.indexOf(already), 1);
      return Promise.resolve(already);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} frame from the master within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        type,
        resolve: (m) => {
          clearTimeout(timer);
          this.received.splice(this.received.indexOf(m), 1);
          resolve(m);
        },
      });
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** A `finished` frame with plausible figures. */
export function finishedFrame(attemptId: string, exitStatus: number): Record<string, unknown> {
  const usage = { cpuSeconds: 0, utimeSeconds: 0, stimeSeconds: 0, rssBytes: 0, maxRssBytes: 0, vmemBytes: 0, maxVmemBytes: 0, ioBytes: 0 };
  return { type: 'finished', attemptId, exitStatus, signal: null, failedCode: 0, failedReason: '', startedAt: Date.now(), endedAt: Date.now(), usage };
}
