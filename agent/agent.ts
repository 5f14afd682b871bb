import os from 'node:os';
import path from 'node:path';
import { NodeData } from './task-data.js';
import type { Logger } from 'pino';
import type { AgentHello, KillTask, TaskAssignment, Welcome } from '../protocol/agent-messages.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import { ChildCpuAccount } from './child-cpu.js';
import { sleep, systemClock, type AgentClock } from './clock.js';
import { MasterConnection, type AgentFatalError } from './connection.js';
import { readHostLoad } from './host-load.js';
import type { Inventory } from './inventory.js';
import { masterNow, type AgentOptions } from './options.js';
import { Outbox } from './outbox.js';
import { OutputBatcher } from './output-batcher.js';
import { ResultStore } from './result-store.js';
import { RunningRegistry } from './running-registry.js';
import { installExecHelper, type ExecHelper } from './exec-helper.js';
import { GroupSetup } from './supplementary-groups.js';
import { TaskRun } from './task-runner.js';
import type { TaskInput } from './interactive/task-input.js';
import { NodeSessions } from './interactive/node-sessions.js';

/** Bytes queued in the socket above which durable frames wait in the outbox. */
const SEND_HIGH_WATER = 4 * 1024 * 1024;

export interface AgentDeps {
  log: Logger;
  inventory: Inventory;
  agentId: string;
  agentVersion: string;
  /** Called once when the master can never accept this agent (bad token, wrong protocol). */
  onFatal(err: AgentFatalError): void;
  /** Parent of task TMPDIRs. @default os.tmpdir() */
  tmpRoot?: string;
  /** Timestamps, limits and the waits of a shutdown. @default systemClock */
  clock?: AgentClock;
}

interface Running {
  run: TaskRun;
  batcher: OutputBatcher;
  /** The master no longer wants it (welcome.cancel): kill and forget, send nothing more. */
  cancelled: boolean;
  /** Its process ended and its outputs are uploading: it holds no slot any more. */
  uploading?: boolean;
}

/**
 * The agent's state: running attempts, the outbox of unacknowledged frames and the link to the
 * master. Invariant: an attempt is either running, or holds an unacknowledged result in the
 * outbox, or is forgotten — and hello always lists the first two kinds.
 */
export class Agent {
  private readonly running = new Map<string, Running>();
  private readonly outbox: Outbox;
  private readonly connection: MasterConnection;
  private readonly childCpu = new ChildCpuAccount();
  private readonly groups: GroupSetup | undefined;
  /** qfarm-exec, copied where every task user can execute it; removed by dispose(). */
  private readonly execHelper: ExecHelper;
  private readonly registry: RunningRegistry;
  private readonly results: ResultStore;
  /** Staged inputs and uploads for jobs with data options; its cache lives in the state dir. */
  private readonly data: NodeData;
  private draining = false;
  /** The spot reclaim time once announced; told to the master again after every reconnect. */
  private spotTerminationTime: string | undefined;
  private pumpTimer: NodeJS.Timeout | undefined;
  private readonly idleWaiters: Array<() => void> = [];
  /** `qfarm exec/shell/push` sessions: outside jobs and slots. */
  private readonly nodeSessions: NodeSessions;
  private readonly clock: AgentClock;

  constructor(
    private readonly opts: AgentOptions,
    private readonly deps: AgentDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.registry = new RunningRegistry(opts.stateDir, deps.log);
    this.results = new ResultStore(opts.stateDir, deps.log);
    this.data = new NodeData({
      cacheDir: path.join(opts.stateDir, 'cache'),
      cacheMaxBytes: opts.cacheMaxBytes,
      log: deps.log,
    });
    this.groups = process.getuid?.() === 0 ? new GroupSetup(deps.log, this.clock) : undefined;
    this.execHelper = installExecHelper(deps.tmpRoot ?? os.tmpdir());
    this.nodeSessions = new NodeSessions({
      send: (frame) => this.connection.send(frame),
      backedUp: () => this.connection.bufferedAmount > SEND_HIGH_WATER,
      groups: this.groups,
      killGraceMs: opts.killGraceMs,
      log: deps.log,
    });
    this.outbox = new Outbox(opts.outputBufferBytes, (w) =>
      deps.log.warn(w, 'output buffer of an attempt is full: dropping its oldest output (the output file keeps everything)'),
    );
    this.connection = new MasterConnection(
      { target: () => masterNow(opts), token: opts.token, log: deps.log, reconnectMaxMs: opts.reconnectMaxMs, clock: this.clock },
      {
        hello: async () => this.hello(),
        heartbeat: async () => ({ type: 'heartbeat', ...(await readHostLoad()), running: [...this.running.keys()] }),
        welcomed: (welcome) => this.welcomed(welcome),
        message: (msg) => {
          switch (msg.type) {
            case 'assign':
              return this.assign(msg);
            case 'kill':
              return this.kill(msg);
            case 'ack':
              if (this.outbox.ack(msg.attemptId)) this.results.remove(msg.attemptId);
              else deps.log.debug({ attemptId: msg.attemptId }, 'ack for an attempt without a pending result; ignored');
              return;
            case 'session-open':
              return this.nodeSessions.open(msg);
            case 'session-input':
              return this.interactive(msg.sessionId)?.write(Buffer.from(msg.data, 'base64'));
            case 'session-resize':
              return this.interactive(msg.sessionId)?.resize(msg.size);
            case 'session-eof':
              return this.interactive(msg.sessionId)?.end();
            case 'session-hangup': {
              // The CLI is gone: SIGHUP to the session (a shell's own reaction), then the kill path.
              if (this.nodeSessions.hangup(msg.sessionId)) return;
              const r = this.running.get(msg.sessionId);
              if (r?.run.input) r.run.kill(msg.reason, this.opts.killGraceMs, 'SIGHUP');
              return;
            }
            case 'drain':
              deps.log.info({ reason: msg.reason }, 'master asked this agent to drain: no new tasks');
              this.draining = true;
              return;
          }
        },
        disconnected: () => {
          deps.log.warn({ running: this.running.size }, 'lost the master; tasks keep running, results are kept for replay');
          // Node sessions have no one at the other end any more: no orphaned shells.
          this.nodeSessions.hangupAll();
        },
        fatal: (err) => deps.onFatal(err),
      },
    );
  }

  /** Removes what the agent put on the machine for its tasks (at process exit; synchronous). */
  dispose(): void {
    this.execHelper.remove();
  }

  async start(): Promise<void> {
    const orphans = await this.registry.reapOrphans();
    if (orphans > 0) this.deps.log.warn({ orphans }, 'killed tasks a previous agent process left running (the master has requeued them)');
    for (const kept of this.results.load()) {
      this.outbox.restore(kept);
      this.deps.log.info({ attemptId: kept.finished.attemptId, outputChunks: kept.output.length }, 'result stored by a previous agent process will be delivered');
    }
    this.deps.log.info({ master: this.opts.masterUrl, agentName: this.opts.name, slots: this.opts.slots, group: this.opts.group, agentId: this.deps.agentId }, 'agent starting');
    this.connection.start();
  }

  /**
   * The machine will be reclaimed (spot): take no new work and tell the master (spot-notice).
   * Running tasks keep going until the master kills the ones that cannot finish in time and
   * requeues them as interrupted.
   */
  reclaimNoticed(terminationTime: string): void {
    if (this.spotTerminationTime === terminationTime) return;
    this.spotTerminationTime = terminationTime;
    this.draining = true;
    this.deps.log.warn({ terminationTime, running: this.running.size }, 'spot reclaim announced: draining (no new tasks)');
    // The master requeues what cannot finish in time (as interrupted) and tops the group up.
    this.connection.send({ type: 'spot-notice', terminationTime });
  }

  get runningCount(): number {
    return this.running.size;
  }

  private hello(): AgentHello {
    const inv = this.deps.inventory;
    const attempts = new Set([...this.running.keys(), ...this.outbox.unackedResults()]);
    return {
      type: 'hello',
      protocolVersion: PROTOCOL_VERSION,
      agentVersion: this.deps.agentVersion,
      agentId: this.deps.agentId,
      hostname: this.opts.name,
      group: this.opts.group,
      arch: inv.arch,
      cpus: inv.cpus,
      sockets: inv.sockets,
      cores: inv.cores,
      threads: inv.threads,
      slots: this.opts.slots,
      memTotalBytes: inv.memTotalBytes,
      swapTotalBytes: inv.swapTotalBytes,
      labels: this.opts.labels,
      attempts: [...attempts],
      // Said on every hello, so a master that assigned work during a drain stops after one hand-back.
      ...(this.draining ? { draining: true } : {}),
    };
  }

  private welcomed(welcome: Welcome): void {
    for (const attemptId of welcome.cancel) {
      const r = this.running.get(attemptId);
      if (r) {
        r.cancelled = true;
        r.run.kill('cancelled by the master', 0);
      }
      this.outbox.drop(attemptId);
      this.results.remove(attemptId);
      this.deps.log.info({ attemptId }, 'master cancelled this attempt; killed and forgotten');
    }
    // A new session on the master knows nothing of the reclaim: say it again.
    if (this.spotTerminationTime) this.connection.send({ type: 'spot-notice', terminationTime: this.spotTerminationTime });
    // Everything unacknowledged, in original order; the master drops duplicates by seq / attempt.
    this.outbox.connectionReset();
    this.pump();
  }

  private assign(a: TaskAssignment): void {
    const log = this.deps.log.child({ attemptId: a.attemptId, job: a.jobId, task: a.taskId });
    if (this.running.has(a.attemptId) || this.outbox.has(a.attemptId)) {
      log.debug('duplicate assign; ignored');
      return;
    }
    if (this.draining) {
      // No frame refuses an assignment; a fresh hello without it makes the master requeue it now.
      log.warn('assignment while draining: not started; reconnecting so the master requeues it');
      this.connection.reconnectNow('draining: returning an assignment');
      return;
    }
    const used = [...this.running.values()].reduce((n, r) => n + (r.uploading ? 0 : r.run.assignment.slots), 0);
    if (used + a.slots > this.opts.slots) log.warn({ used, slots: this.opts.slots, asked: a.slots }, 'assignment exceeds free slots; running it anyway');
    const attemptId = a.attemptId;
    const batcher = new OutputBatcher((stream, data) => {
      if (entry.cancelled) return;
      this.outbox.output(attemptId, stream, data);
      this.pump(attemptId);
    });
    const run = new TaskRun(
      a,
      { hostname: this.opts.name, agentUid: process.getuid?.() ?? 0, tmpRoot: this.opts.tmpRoot ?? this.deps.tmpRoot ?? os.tmpdir(), execHelper: this.execHelper.path, childCpu: this.childCpu, groups: this.groups, data: this.data, log: this.deps.log, clock: this.clock },
      {
        started: (pid, startedAt, tag) => {
          this.registry.add(attemptId, pid, tag);
          if (entry.cancelled) return;
          log.debug({ pid }, 'task started');
          this.outbox.started({ type: 'started', attemptId, pid, startedAt });
          this.pump(attemptId);
        },
        output: (stream, data) => batcher.push(stream, data),
        uploading: () => {
          entry.uploading = true;
          if (!entry.cancelled) this.connection.send({ type: 'uploading', attemptId });
        },
        inputWritten: (bytes) => {
          if (!entry.cancelled) this.connection.send({ type: 'session-ack', sessionId: attemptId, bytes });
        },
        usage: (usage) => {
          // Not kept: the next sample supersedes it. Skipped while the socket is backed up.
          if (!entry.cancelled && this.connection.bufferedAmount < SEND_HIGH_WATER) this.connection.send({ type: 'usage', attemptId, usage });
        },
      },
    );
    const entry: Running = { run, batcher, cancelled: false };
    this.running.set(attemptId, entry);
    void run.done.then((result) => {
      batcher.flush();
      this.running.delete(attemptId);
      this.registry.remove(attemptId);
      if (entry.cancelled) {
        this.outbox.drop(attemptId);
      } else {
        log.info({ exitStatus: result.exitStatus, failedCode: result.failedCode, failedReason: result.failedReason || undefined }, 'task finished');
        this.outbox.finished({ type: 'finished', attemptId, ...result });
        this.results.save(this.outbox.kept(attemptId)!);
        this.pump(attemptId);
      }
      if (this.running.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  /** The input of a node session or a running interactive task; frames for anything else are ignored. */
  private interactive(sessionId: string): TaskInput | undefined {
    const input = this.nodeSessions.input(sessionId) ?? this.running.get(sessionId)?.run.input;
    if (!input) this.deps.log.debug({ sessionId }, 'session frame for no running session or interactive task; ignored');
    return input;
  }

  private kill(msg: KillTask): void {
    const r = this.running.get(msg.attemptId);
    if (!r) {
      this.deps.log.debug({ attemptId: msg.attemptId }, 'kill for an attempt not running here (already finished?); ignored');
      return;
    }
    this.deps.log.info({ attemptId: msg.attemptId, reason: msg.reason }, 'killing task');
    // qsub -notify: SGE warns the job with SIGUSR2 and kills it after the notify period.
    if (r.run.assignment.notify === true) r.run.kill(msg.reason, this.opts.notifyMs, 'SIGUSR2');
    else r.run.kill(msg.reason, this.opts.killGraceMs);
  }

  /**
   * Sends unsent outbox frames in order while the socket keeps up. When its send buffer passes the
   * high-water mark, the rest waits (kept, bounded, in the outbox) and a timer retries: a task that
   * prints faster than the network cannot grow the agent's memory without bound.
   */
  private pump(attemptId?: string): void {
    if (!this.connection.isReady) return;
    // While backed up, a new frame must wait behind the older ones of every attempt.
    const frames = this.pumpTimer ? [] : this.outbox.unsent(attemptId);
    for (const frame of frames) {
      if (this.connection.bufferedAmount > SEND_HIGH_WATER) break;
      if (!this.connection.send(frame)) return;
      this.outbox.markSent(frame);
    }
    if (this.connection.bufferedAmount > SEND_HIGH_WATER || (this.pumpTimer && this.outbox.unsent().length > 0)) {
      this.pumpTimer ??= setTimeout(() => {
        this.pumpTimer = undefined;
        this.pump();
      }, 50);
    }
  }

  /** Resolves when no task runs, or after timeoutMs (false then). */
  private waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.running.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const cancel = this.clock.setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        cancel();
        resolve(true);
      });
    });
  }

  /** Resolves when every result has been acknowledged, or after timeoutMs. */
  private async waitAcked(timeoutMs: number): Promise<void> {
    const deadline = this.clock.now() + timeoutMs;
    while (this.outbox.unackedResults().length > 0 && this.clock.now() < deadline) await sleep(this.clock, 50);
  }

  /**
   * Stops taking work, lets running tasks finish for up to drainTimeoutMs (or kills them at once
   * when forced), tries to deliver their results, then closes the link.
   */
  async shutdown(opts: { force: boolean; drainTimeoutMs: number; reason: string }): Promise<void> {
    this.draining = true;
    if (!opts.force && !(await this.waitIdle(opts.drainTimeoutMs))) {
      this.deps.log.warn({ running: this.running.size }, 'drain timeout: killing the remaining tasks');
    }
    // Stopping the agent is not the tasks' fault: their results ask the master to rerun them.
    for (const r of this.running.values()) r.run.kill(opts.reason, opts.force ? 0 : this.opts.killGraceMs, 'SIGTERM', true);
    await this.waitIdle(10_000);
    await this.waitAcked(opts.force ? 1000 : 5000);
    const unacked = this.outbox.unackedResults();
    if (unacked.length > 0) this.deps.log.warn({ unacked }, 'exiting with results the master has not acknowledged; it will requeue those tasks');
    this.connection.close();
  }

  /** Kills every task at once (fatal error path, or a second signal while draining); they are requeued. */
  async killAll(reason: string): Promise<void> {
    for (const r of this.running.values()) r.run.kill(reason, 0, 'SIGTERM', true);
    await this.waitIdle(5000);
  }
}
