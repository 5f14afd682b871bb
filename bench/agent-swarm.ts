/**
 * Simulated agents in a process of their own, as real agents are on machines of their own: the
 * bench's master process then measures the master alone (its CPU, its event loop), and the
 * agents' JSON and socket work runs on the other core. bench/agents.ts forks one swarm per
 * --agents-per-process agents (at most MAX_SWARM_SIZE: a process may hold 20,000 open files
 * here) and drives it over IPC.
 *
 * Run by fork() only: `node dist/bench/agent-swarm.js` with an IPC channel.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { SimulatedAgent, type SimulatedWork } from './agent-simulator.js';

/** Agents one swarm process holds at most. */
export const MAX_SWARM_SIZE = 10_000;

/** What the bench asks a swarm. */
type SwarmRequest =
  | { type: 'join'; url: string; token: string; first: number; count: number; prefix: string }
  | { type: 'work'; work: SimulatedWork }
  | { type: 'progress' }
  | { type: 'phase-end' }
  | { type: 'close' };

/**
 * What a swarm answers: `progress` tasks done since the last `work`; `phase-end` its refill gaps
 * (all, and `steadyGaps`: those of slots freed after the phase's first task length, when the
 * phase's first wave of assignments is long out) and its loop delay.
 */
export type SwarmAnswer =
  | { type: 'joined'; ms: number }
  | { type: 'progress'; tasksDone: number; cpuMs: number }
  | { type: 'phase-end'; gaps: number[]; steadyGaps: number[]; loopP99Ms: number }
  | { type: 'failed'; message: string };

function isSwarmAnswer(value: unknown): value is SwarmAnswer {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  switch (v['type']) {
    case 'joined':
      return typeof v['ms'] === 'number';
    case 'progress':
      return typeof v['tasksDone'] === 'number' && typeof v['cpuMs'] === 'number';
    case 'phase-end':
      return [v['gaps'], v['steadyGaps']].every((a) => Array.isArray(a) && a.every((g) => typeof g === 'number')) && typeof v['loopP99Ms'] === 'number';
    case 'failed':
      return typeof v['message'] === 'string';
    default:
      return false;
  }
}

/** The bench's handle on one swarm process: one request at a time, answered in order. */
export class Swarm {
  private readonly child: ChildProcess;
  private readonly waiting: { resolve: (a: SwarmAnswer) => void; reject: (e: Error) => void }[] = [];
  private exited: Error | undefined;

  constructor() {
    // A young generation of 64 MiB: 2,000 agents' frames in one process otherwise promote
    // enough garbage for a full GC of 7-13 ms every second or two, and every refill under way
    // then is measured that much late (the master's share is measured apart: in the master).
    this.child = fork(fileURLToPath(import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--max-semi-space-size=64'] });
    this.child.on('message', (message: unknown) => {
      const waiter = this.waiting.shift();
      if (!waiter) return;
      if (!isSwarmAnswer(message)) waiter.reject(new Error(`agent swarm (pid ${this.child.pid}) answered something unknown: ${JSON.stringify(message).slice(0, 200)}`));
      else if (message.type === 'failed') waiter.reject(new Error(`agent swarm (pid ${this.child.pid}): ${message.message}`));
      else waiter.resolve(message);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = new Error(`agent swarm (pid ${this.child.pid}) exited (${signal ?? code})`);
      for (const w of this.waiting.splice(0)) w.reject(this.exited);
    });
  }

  private ask<T extends SwarmAnswer['type']>(request: SwarmRequest, answer: T): Promise<Extract<SwarmAnswer, { type: T }>> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve: (a) => (a.type === answer ? resolve(a as Extract<SwarmAnswer, { type: T }>) : reject(new Error(`agent swarm answered ${a.type} to ${request.type}`))), reject });
      this.child.send(request);
    });
  }

  join(url: string, token: string, first: number, count: number, prefix: string): Promise<{ ms: number }> {
    return this.ask({ type: 'join', url, token, first, count, prefix }, 'joined');
  }

  work(work: SimulatedWork): void {
    this.child.send({ type: 'work', work } satisfies SwarmRequest);
  }

  progress(): Promise<{ tasksDone: number; cpuMs: number }> {
    return this.ask({ type: 'progress' }, 'progress');
  }

  phaseEnd(): Promise<{ gaps: number[]; steadyGaps: number[]; loopP99Ms: number }> {
    return this.ask({ type: 'phase-end' }, 'phase-end');
  }

  close(): void {
    if (!this.exited) this.child.send({ type: 'close' } satisfies SwarmRequest);
  }
}

/** The swarm process itself. */
function serve(): void {
  let work: SimulatedWork = { taskMs: 0, jitter: 0 };
  let gaps: number[] = [];
  let steadyGaps: number[] = [];
  /** Slots freed after this moment count as steady (see SwarmAnswer). */
  let steadyFrom = 0;
  const agents: SimulatedAgent[] = [];
  let loopDelay = monitorEventLoopDelay({ resolution: 1 });
  const answer = (a: SwarmAnswer): void => void process.send!(a);

  process.on('message', (request: SwarmRequest) => {
    switch (request.type) {
      case 'join': {
        const t0 = performance.now();
        void (async () => {
          // 200 connecting at a time, as a farm's machines booting do not all dial in one instant.
          for (let i = 0; i < request.count; i += 200) {
            const batch: SimulatedAgent[] = [];
            for (let j = i; j < Math.min(request.count, i + 200); j++) {
              batch.push(new SimulatedAgent(`${request.prefix}-${request.first + j}`, () => work, (s) => {
                const gap = s.refilledAt - s.freedAt;
                gaps.push(gap);
                if (s.freedAt >= steadyFrom) steadyGaps.push(gap);
              }));
            }
            await Promise.all(batch.map((a) => a.join(request.url, request.token)));
            agents.push(...batch);
          }
        })().then(
          () => answer({ type: 'joined', ms: performance.now() - t0 }),
          (err: unknown) => answer({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
        );
        return;
      }
      case 'work':
        work = request.work;
        for (const a of agents) a.tasksDone = 0;
        gaps = [];
        steadyGaps = [];
        steadyFrom = performance.now() + request.work.taskMs * (1 + request.work.jitter);
        loopDelay.disable();
        loopDelay = monitorEventLoopDelay({ resolution: 1 });
        loopDelay.enable();
        return;
      case 'progress': {
        const cpu = process.cpuUsage();
        answer({ type: 'progress', tasksDone: agents.reduce((n, a) => n + a.tasksDone, 0), cpuMs: (cpu.user + cpu.system) / 1000 });
        return;
      }
      case 'phase-end':
        loopDelay.disable();
        answer({ type: 'phase-end', gaps, steadyGaps, loopP99Ms: loopDelay.percentile(99) / 1e6 });
        return;
      case 'close':
        for (const a of agents) a.close();
        process.disconnect();
        return;
    }
  });
}

if (process.send && process.argv[1] === fileURLToPath(import.meta.url)) serve();
