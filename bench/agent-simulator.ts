import { WebSocket } from 'ws';

/** How a simulated agent runs what it is given. */
export interface SimulatedWork {
  /** Task length in ms (0: `finished` right after `started`). */
  taskMs: number;
  /** Each task's length varies by up to ± this fraction of taskMs (0..1). */
  jitter: number;
}

/** Per-task timings the bench reads: when a slot freed and when the next task arrived. */
export interface RefillSample {
  freedAt: number;
  refilledAt: number;
}

const USAGE = { cpuSeconds: 0, utimeSeconds: 0, stimeSeconds: 0, rssBytes: 0, maxRssBytes: 0, vmemBytes: 0, maxVmemBytes: 0, ioBytes: 0 };

/**
 * One simulated agent: a real WebSocket to a real master speaking the agent protocol as
 * agent/ does (hello, heartbeats naming its running attempts, started/finished for each
 * assignment, results replayed never), with one slot and no process behind its tasks.
 */
export class SimulatedAgent {
  private ws: WebSocket | undefined;
  private readonly running = new Set<string>();
  private heartbeat: NodeJS.Timeout | undefined;
  private freedAt = 0;
  /** When the master last sent anything (a frame or a pong), and the heartbeat interval told. */
  private lastHeard = 0;
  private heartbeatMs = 5000;
  tasksDone = 0;

  constructor(
    readonly agentId: string,
    private readonly work: () => SimulatedWork,
    private readonly onRefill: (sample: RefillSample) => void,
  ) {}

  /** Connects, says hello and resolves on `welcome`; rejects with the master's reason otherwise. */
  join(url: string, token: string): Promise<void> {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/agent', { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    this.ws = ws;
    return new Promise((resolve, reject) => {
      ws.once('error', (err) => reject(new Error(`simulated agent ${this.agentId} could not connect: ${err.message}`)));
      ws.once('close', (code, reason) => reject(new Error(`simulated agent ${this.agentId} closed before welcome: ${code} ${reason.toString()}`)));
      ws.once('open', () => {
        ws.send(
          JSON.stringify({
            type: 'hello', protocolVersion: 1, agentVersion: 'bench', agentId: this.agentId, hostname: this.agentId, group: 'default',
            arch: 'lx-amd64', cpus: 1, sockets: 1, cores: 1, threads: 1, slots: 1, memTotalBytes: 1 << 30, swapTotalBytes: 0, labels: {}, attempts: [],
          }),
        );
      });
      ws.on('pong', () => (this.lastHeard = performance.now()));
      ws.on('message', (data) => {
        this.lastHeard = performance.now();
        const frame = JSON.parse(data.toString()) as { type: string; attemptId?: string; heartbeatMs?: number };
        if (frame.type === 'welcome' || frame.type === 'pace') {
          this.startHeartbeats(frame.heartbeatMs ?? 5000);
          if (frame.type === 'pace') return;
          this.freedAt = performance.now();
          resolve();
        } else if (frame.type === 'assign' && frame.attemptId) {
          this.run(frame.attemptId);
        }
      });
    });
  }

  private startHeartbeats(everyMs: number): void {
    this.heartbeatMs = everyMs;
    clearTimeout(this.heartbeat);
    clearInterval(this.heartbeat);
    // Spread over the period, as agents started at different times are (and as agent/ does after a pace frame).
    const first = Math.random() * everyMs;
    this.heartbeat = setTimeout(() => {
      this.sendHeartbeat();
      this.heartbeat = setInterval(() => this.sendHeartbeat(), everyMs);
    }, first);
  }

  private sendHeartbeat(): void {
    // As agent/connection.ts: a ping when the master has been silent for 1.5 intervals (its pong
    // tells the agent it is alive), then the heartbeat.
    if (this.ws?.readyState === WebSocket.OPEN && performance.now() - this.lastHeard > 1.5 * this.heartbeatMs) this.ws.ping();
    this.send({ type: 'heartbeat', load1: 0, memUsedBytes: 0, swapUsedBytes: 0, running: [...this.running] });
  }

  private run(attemptId: string): void {
    const now = performance.now();
    // The first task of a phase refills nothing: the slot was idle by the bench's choice.
    if (this.running.size === 0 && this.tasksDone > 0) this.onRefill({ freedAt: this.freedAt, refilledAt: now });
    this.running.add(attemptId);
    this.send({ type: 'started', attemptId, pid: 1, startedAt: Date.now() });
    const { taskMs, jitter } = this.work();
    // Every agent is handed its first task of a phase at once; were those as long as the rest,
    // the farm would finish (and ask for work) in waves, saturated for a moment at any average
    // load. A first task of a random part of the length spreads the agents over the period, as
    // a farm in steady state is.
    const firstOfPhase = this.tasksDone === 0 && this.running.size === 1;
    const length = firstOfPhase ? taskMs * Math.random() : Math.max(0, taskMs * (1 + jitter * (2 * Math.random() - 1)));
    const finish = (): void => {
      this.running.delete(attemptId);
      this.tasksDone++;
      this.freedAt = performance.now();
      const at = Date.now();
      this.send({ type: 'finished', attemptId, exitStatus: 0, signal: null, failedCode: 0, failedReason: '', startedAt: at, endedAt: at, usage: USAGE });
    };
    if (length === 0) finish();
    else setTimeout(finish, length);
  }

  private send(frame: unknown): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  close(): void {
    clearTimeout(this.heartbeat);
    clearInterval(this.heartbeat);
    this.ws?.terminate();
  }
}
