import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import { InteractiveLimits, type InteractiveClientFrame, type InteractiveServerFrame, type InteractiveSubmit, type WindowSize } from '../../protocol/interactive.js';
import type { JobSubmission } from '../../protocol/job-spec.js';
import type { AgentHub } from '../agent-hub.js';
import type { Identity } from '../api/identity.js';
import type { MasterEventBus } from '../events.js';
import { attemptReader } from '../store/attempt-reader.js';
import type { TickTransaction } from '../store/tick-transaction.js';
import type { Db } from '../store/database.js';
import { taskReader } from '../store/task-reader.js';
import { TaskState } from '../states.js';
import type { Transitions } from '../store/transitions.js';

export interface SessionDeps {
  db: Db;
  transitions: Transitions;
  hub: AgentHub;
  events: MasterEventBus;
  /** The turn's transaction: the job's last output is relayed when it commits. */
  tick: TickTransaction;
  log: Logger;
  /** How long `-now y` waits for the job to be placed. */
  nowWaitMs: number;
  /** No input and no output for this long ends the session; 0: never. */
  idleTimeoutMs: number;
}

/** Bytes queued towards a CLI that reads slower than its job prints; beyond, the session ends. */
const CLIENT_BACKLOG_BYTES = 8 * 1024 * 1024;

/**
 * One qrsh/qlogin connection: submits the job as the connection's user, relays the job's
 * output to the CLI and the CLI's input (within the input window) to the agent, and ends the
 * remote side when the CLI goes away (SIGHUP, then the normal kill path) or stays idle.
 */
export class InteractiveSession {
  private jobId: number | undefined;
  private verb: InteractiveSubmit['verb'] = 'qrsh';
  private attempt: { id: string; agentId: string } | undefined;
  /** Input that arrived before the process started (at most the input window). */
  private early: Array<{ type: 'input'; data: string } | { type: 'resize'; size: WindowSize } | { type: 'eof' }> = [];
  private inFlight = 0;
  private finished = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    private readonly ws: WebSocket,
    private readonly who: Identity,
    private readonly deps: SessionDeps,
  ) {}

  /** Every frame of the CLI, validated by the caller. */
  onFrame(frame: InteractiveClientFrame): void {
    if (frame.type === 'submit') return void this.submit(frame).catch((err: unknown) => this.fail(`the interactive job could not be submitted: ${(err as Error).message}`));
    if (this.jobId === undefined) return this.fail('the first frame must be "submit"');
    this.touch();
    if (frame.type === 'input') {
      const bytes = Buffer.byteLength(frame.data, 'base64');
      this.inFlight += bytes;
      if (this.inFlight > InteractiveLimits.inputWindowBytes) return this.fail(`more than ${InteractiveLimits.inputWindowBytes} bytes of input in flight: wait for credit`);
    }
    if (!this.attempt) {
      this.early.push(frame);
      return;
    }
    this.forward(frame);
  }

  /** The CLI's connection closed (or was dropped). */
  onClose(): void {
    clearTimeout(this.idleTimer);
    for (const off of this.unsubscribe.splice(0)) off();
    if (this.finished || this.jobId === undefined) return;
    this.finished = true;
    const reason = `the ${this.verb} client of ${this.who.user} disconnected`;
    if (this.attempt) {
      this.deps.hub.sendTo(this.attempt.agentId, { type: 'session-hangup', sessionId: this.attempt.id, reason });
      this.deps.log.info({ job: this.jobId, user: this.who.user }, `${reason}: hanging up its job`);
    } else {
      this.deleteJob(reason);
    }
  }

  private async submit(frame: InteractiveSubmit): Promise<void> {
    if (this.jobId !== undefined) return this.fail('"submit" was sent twice');
    this.verb = frame.verb;
    const { user, uid, gid, group, home } = this.who.account;
    // No output files (the CLI is the terminal), no rerun elsewhere: the CLI is attached here.
    const job: JobSubmission = {
      ...frame.job,
      submitter: { user, uid, gid, group, home },
      pty: frame.tty !== null,
      stdoutPath: '/dev/null',
      stderrPath: '/dev/null',
      joinOutput: false,
      rerun: false,
      interactive: true,
    };
    delete job.array;
    this.listen();
    const { jobId } = this.deps.transitions.submitJob(job);
    this.jobId = jobId;
    if (frame.tty) this.early.push({ type: 'resize', size: frame.tty });
    this.send({ type: 'submitted', jobId, name: job.name });
    this.deps.log.info({ job: jobId, user, verb: frame.verb, tty: frame.tty !== null }, 'interactive job submitted');
    this.touch();
    if (frame.now && !(await this.placedWithin(this.deps.nowWaitMs))) {
      this.finished = true;
      for (const off of this.unsubscribe.splice(0)) off();
      this.deleteJob(`-now y: not scheduled at once`);
      this.send({ type: 'not-scheduled', message: `Your "${frame.verb}" request could not be scheduled, try again later.` });
      this.ws.close(1000, 'not scheduled');
    }
  }

  private listen(): void {
    const { events } = this.deps;
    const on = <K extends Parameters<MasterEventBus['on']>[0]>(name: K, fn: (...args: never[]) => void): void => {
      events.on(name, fn as never);
      this.unsubscribe.push(() => events.off(name, fn as never));
    };
    on('attempt:started', (attemptId: string, agentId: string, hostname: string) => {
      if (this.attempt || !this.isMine(attemptId)) return;
      this.attempt = { id: attemptId, agentId };
      this.send({ type: 'scheduled', host: hostname });
      for (const frame of this.early.splice(0)) this.forward(frame);
    });
    on('attempt:output', (attemptId: string, stream: 'stdout' | 'stderr', data: Buffer) => {
      if (attemptId !== this.attempt?.id) return;
      this.touch();
      this.send({ type: 'output', stream, data: data.toString('base64') });
      if (this.ws.bufferedAmount > CLIENT_BACKLOG_BYTES) {
        this.deps.log.warn({ job: this.jobId }, 'interactive client reads too slowly; ending the session');
        this.ws.terminate();
      }
    });
    on('session:input-written', (attemptId: string, agentId: string, bytes: number) => {
      // Only the agent running the attempt may grant credit.
      if (attemptId !== this.attempt?.id || agentId !== this.attempt.agentId) return;
      this.inFlight = Math.max(0, this.inFlight - bytes);
      this.send({ type: 'credit', bytes });
    });
    // The task's last output chunks reach us when the turn that ended it commits: end after them.
    on('task:finished', (jobId: number) => {
      if (jobId === this.jobId) this.deps.tick.afterCommit(() => this.ended());
    });
    on('job:finished', (jobId: number) => {
      if (jobId === this.jobId) this.deps.tick.afterCommit(() => this.ended());
    });
  }

  private isMine(attemptId: string): boolean {
    return attemptReader(this.deps.db).ref(attemptId)?.job_id === this.jobId;
  }

  private forward(frame: (typeof this.early)[number]): void {
    const { id: sessionId, agentId } = this.attempt!;
    const hub = this.deps.hub;
    if (frame.type === 'input') hub.sendTo(agentId, { type: 'session-input', sessionId, data: frame.data });
    else if (frame.type === 'resize') hub.sendTo(agentId, { type: 'session-resize', sessionId, size: frame.size });
    else hub.sendTo(agentId, { type: 'session-eof', sessionId });
  }

  /** The job's task ended (or the job was deleted before it ran): its status is the CLI's. */
  private ended(): void {
    if (this.finished && this.ws.readyState !== this.ws.OPEN) return;
    this.finished = true;
    const row = taskReader(this.deps.db).firstTask(this.jobId!);
    const exitStatus = row?.exit_status ?? 1;
    const failedCode = row?.failed_code ?? (row?.state === TaskState.Deleted || !row ? 100 : 0);
    const reason = row?.failed_reason ?? (row?.state === TaskState.Deleted || !row ? `job ${this.jobId} was deleted before it started` : '');
    this.send({ type: 'exit', exitStatus, failedCode, reason });
    this.ws.close(1000, 'job ended');
  }

  private async placedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    const tasks = taskReader(this.deps.db);
    for (;;) {
      // A task row leaves 'pending' (or first appears, leased) once the scheduler placed it.
      if (tasks.placedCount(this.jobId!) > 0 || this.attempt) return true;
      if (Date.now() >= deadline || this.ws.readyState !== this.ws.OPEN) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private deleteJob(reason: string): void {
    try {
      const outcome = this.deps.transitions.deleteJob(this.jobId!, this.who, undefined, this.deps.hub.connectedAgentIds());
      for (const k of outcome.kill) this.deps.hub.sendKill(k.agentId, k.attemptId, reason);
    } catch (err) {
      this.deps.log.warn({ job: this.jobId, err: (err as Error).message }, 'could not delete an interactive job whose client went away');
    }
  }

  private touch(): void {
    if (this.deps.idleTimeoutMs <= 0) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      const seconds = Math.round(this.deps.idleTimeoutMs / 1000);
      this.send({ type: 'error', message: `${this.verb}: session of job ${this.jobId} idle for ${seconds} s (QFARM_INTERACTIVE_IDLE_TIMEOUT); ended` });
      this.ws.close(1000, 'idle');
      this.onClose();
    }, this.deps.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private send(frame: InteractiveServerFrame): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private fail(message: string): void {
    this.send({ type: 'error', message });
    this.ws.close(1008, message.slice(0, 120));
  }
}
