import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { FailedCode, type OutputStream, type TaskAssignment, type TaskUsage } from '../protocol/agent-messages.js';
import { launchAsUser, type UserLaunch } from './as-user.js';
import { spawnPipes, spawnPty, type Started } from './task-process.js';
import type { ChildCpuAccount } from './child-cpu.js';
import type { GroupSetup } from './supplementary-groups.js';
import { systemClock, type AgentClock } from './clock.js';
import { LimitWatcher } from './limit-watcher.js';
import { exitResult, failedResult, type TaskResult } from './task-exit.js';
import { defaultOutputName, expandOutputPath, OutputFileError, resolveOutputPath, WorkingDirectoryError } from './output-files.js';
import { openFileSink, openUserSink, type OutputSink } from './output-sink.js';
import { ProcessTree } from './process-tree.js';
import { makeTaskTmpdir, removeTaskTmpdir } from './task-tmpdir.js';
import { TreeSampler } from './proc-stats.js';
import { scriptFileName, taskArgv } from './task-command.js';
import { handOverDirectory, readSetupFailure, SETUP_FAILED_EXIT, TaskSpecError, writeScriptFile, writeSpecFile, type Owner } from './task-files.js';
import { TASK_TAG_VAR, taskEnvironment } from './task-environment.js';
import { runAsFor, TaskUserError, type RunAs } from './task-user.js';
import { makeOutdir, TaskDataError, type NodeData } from './task-data.js';
import { DataFailureKind } from './data-failure.js';
import { InputConflictError } from './shared-inputs.js';
import type { TaskDataUser } from './user-side-data.js';
import { TaskInput } from './interactive/task-input.js';

export type { TaskResult } from './task-exit.js';

/** What a running task tells the agent. */
export interface TaskEvents {
  /** `tag`: the QFARM_TASK_TAG value all the task's processes carry. */
  started(pid: number, startedAt: number, tag: string): void;
  output(stream: OutputStream, data: Buffer): void;
  usage(usage: TaskUsage): void;
  /** The process ended and `$OUTDIR` is being uploaded: the task's slots may take new work. */
  uploading?(): void;
  /** Interactive tasks: `bytes` of input were written to the task (credit for the CLI). */
  inputWritten?(bytes: number): void;
}

export interface RunnerContext {
  /** Host name the agent reports; the task's HOSTNAME and `$HOSTNAME` in output paths. */
  hostname: string;
  agentUid: number;
  /** Parent of per-task TMPDIRs; must be reachable by every task user (so not under /root). */
  tmpRoot: string;
  /** The agent's private copy of qfarm-exec (agent/exec-helper.ts), executable by every user. */
  execHelper: string;
  childCpu: ChildCpuAccount;
  /** Gives tasks of other users their supplementary groups (root agent only). */
  groups?: GroupSetup;
  log: Logger;
  /** How often the process tree is sampled (limits are checked at the same time). @default 1000 */
  sampleIntervalMs?: number;
  /** How often a `usage` frame is sent. @default 2000 */
  usageIntervalMs?: number;
  /** Inputs and outputs of jobs with data options (`qsub -data/-outdir`). */
  data?: NodeData;
  /** Timestamps, sampling and h_rt. @default systemClock */
  clock?: AgentClock;
}

/** A setup step failed; becomes the task's failed code and reason. */
class TaskSetupError extends Error {
  constructor(
    readonly failedCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'TaskSetupError';
  }
}

/** The umask of a job from a client that does not send one (SGE's usual default). */
const DEFAULT_UMASK = 0o022;

/** After the task ended: how long its pipes may stay open before tagged leftovers are killed. */
const OUTPUT_LINGER_MS = 200;
/** And how long after that before the pipes are closed on whatever still holds them. */
const OUTPUT_ABANDON_MS = 2000;

/**
 * Runs one attempt from assignment to result. `done` never rejects: every failure, including a
 * bug in setup, becomes a result with a failed code and a reason, so one task cannot take down
 * the agent.
 */
export class TaskRun {
  readonly done: Promise<TaskResult>;
  private killRequest: { reason: string; graceMs: number; failedReason: string; warnSignal: NodeJS.Signals; requeue: boolean } | undefined;
  private tree: ProcessTree | undefined;
  private killing: Promise<void> | undefined;
  /** Lets go of the staged inputs this task used (set once they are in place). */
  private releaseInputs: (() => Promise<void>) | undefined;
  private limitReason: string | undefined;
  /** qrsh/qlogin: the task's input (session-* frames); absent for batch tasks. */
  readonly input: TaskInput | undefined;
  private readonly clock: AgentClock;

  constructor(
    readonly assignment: TaskAssignment,
    private readonly ctx: RunnerContext,
    private readonly events: TaskEvents,
  ) {
    this.clock = ctx.clock ?? systemClock;
    this.input = assignment.interactive === true ? new TaskInput((bytes) => events.inputWritten?.(bytes), ctx.log.child({ attemptId: assignment.attemptId })) : undefined;
    // An error the agent did not expect (its TMPDIR root missing, a full disk) is the node's
    // failure, not the job's: the task runs again elsewhere (and counts against this host).
    this.done = this.run()
      .catch((err: unknown) => ({ ...this.failure(this.clock.now(), FailedCode.BeforeJob, `agent error on ${this.ctx.hostname}: ${(err as Error).message}`), retryable: true }))
      // Killed because the agent stops (not for anything the task did): the master runs it again.
      .then((result) => (this.killRequest?.requeue && result.failedCode === FailedCode.AfterJob ? { ...result, retryable: true } : result));
  }

  get attemptId(): string {
    return this.assignment.attemptId;
  }

  /**
   * qdel or cancel: kill the whole tree (`warnSignal`, by default SIGTERM; SIGKILL after
   * graceMs); the result says why. `requeue`: the agent is stopping, so the result asks the
   * master to run the task again (retryable) instead of failing it.
   */
  kill(reason: string, graceMs: number, warnSignal: NodeJS.Signals = 'SIGTERM', requeue = false): void {
    if (this.killRequest) return;
    this.killRequest = { reason, graceMs, failedReason: reason, warnSignal, requeue };
    if (this.tree) this.killing ??= this.tree.kill(graceMs, warnSignal);
  }

  private failure(startedAt: number, failedCode: number, failedReason: string): TaskResult {
    return failedResult(startedAt, this.clock.now(), failedCode, failedReason);
  }

  private async run(): Promise<TaskResult> {
    const a = this.assignment;
    const startedAt = this.clock.now();
    const log = this.ctx.log.child({ attemptId: a.attemptId, job: a.jobId, task: a.taskId });
    let runAs: RunAs;
    try {
      runAs = runAsFor(a.user, this.ctx.agentUid);
    } catch (err) {
      if (err instanceof TaskUserError) return this.failure(startedAt, err.failedCode, err.message);
      throw err;
    }
    const sinks: OutputSink[] = [];
    let tmpdir: string | undefined;
    let specFd: number | undefined;
    let handedOver = false;
    // Who the task's files are given to; null when the agent already is that user.
    const owner: Owner | null = runAs.kind === 'drop' ? { uid: runAs.uid, gid: runAs.gid } : null;
    const umask = a.umask ?? DEFAULT_UMASK;
    try {
      if (!path.isAbsolute(a.cwd)) throw new TaskSetupError(FailedCode.BeforeJob, `working directory "${a.cwd}" is not an absolute path`);
      if (runAs.kind === 'self') this.checkOwnCwd();
      // Root's own, 0700, until every file in it exists; given to the user last.
      tmpdir = await makeTaskTmpdir(this.ctx.tmpRoot, a);
      const outputs = await this.openOutputs(runAs, umask, sinks, log);
      const scriptFile = this.writeScript(tmpdir, owner);
      const env = taskEnvironment(a, { tmpdir, hostname: this.ctx.hostname, runAs });
      const outdir = a.data ? await this.prepareData(a.data, tmpdir, env, runAs) : undefined;
      if (this.killRequest) return this.failure(startedAt, FailedCode.AfterJob, `${this.killRequest.reason} (before the task started)`);
      // The root half (setpriv, or spawn's own switch) runs with the agent's minimal environment
      // in /; qfarm-exec, already the user, enters cwd, sets the umask, applies the task's
      // environment and execs the task (same pid throughout).
      const spec = writeSpecFile(tmpdir, { cwd: a.cwd, umask, env, argv: taskArgv(a, scriptFile) }, owner);
      specFd = spec.fd;
      if (owner) {
        handOverDirectory(tmpdir, owner);
        handedOver = true;
      }
      const launch = launchAsUser([this.ctx.execHelper, spec.file], a.user, runAs.kind === 'drop' ? this.ctx.groups : undefined);
      const result = await this.execute(launch, env, specFd, outputs, startedAt, log);
      // Outputs are uploaded and verified before the result is reported: the master commits a
      // task only with its outputs in place. A failed upload fails this attempt, not the task.
      if (outdir && a.data?.outputUrl && result.exitStatus === 0 && result.failedCode === FailedCode.None) {
        this.events.uploading?.();
        try {
          result.outputs = await this.ctx.data!.uploadOutputs(outdir, a.data.outputUrl, this.dataUser(runAs), umask);
        } catch (err) {
          if (!(err instanceof TaskDataError)) throw err;
          // The task ran: this is SGE's "assumedly after job", not "before job". A transient
          // failure reruns it; the user's own outputs or this node's configuration do not.
          const failed = { ...result, failedCode: FailedCode.AfterJob, failedReason: `the task ran (exit 0) but ${err.message}` };
          return err.retryable ? { ...failed, retryable: true } : failed;
        }
      }
      return result;
    } catch (err) {
      if (err instanceof TaskDataError) {
        const failed = this.failure(startedAt, FailedCode.BeforeJob, err.message);
        // Transient: run again; the user's own rights or this node's configuration: final, with
        // the reason (saying who must act) in qacct.
        return err.retryable ? { ...failed, retryable: true } : failed;
      }
      if (err instanceof InputConflictError) return this.failure(startedAt, FailedCode.BeforeJob, `input ${err.message}`);
      if (err instanceof TaskSetupError) return this.failure(startedAt, err.failedCode, err.message);
      if (err instanceof TaskSpecError) return this.failure(startedAt, FailedCode.BeforeJob, err.message);
      if (err instanceof WorkingDirectoryError) return this.failure(startedAt, FailedCode.BeforeJob, err.onHost(this.ctx.hostname));
      if (err instanceof OutputFileError) return this.failure(startedAt, FailedCode.OpenOutput, err.message);
      throw err;
    } finally {
      if (specFd !== undefined) fs.closeSync(specFd);
      // Before the result goes out: whoever reads the files after `finished` sees all of it.
      for (const sink of sinks) await sink.close().catch((err: unknown) => log.warn({ err }, 'closing an output file failed'));
      if (tmpdir) await removeTaskTmpdir(tmpdir, handedOver ? { user: a.user, groups: this.ctx.groups } : undefined, log);
      // The staged inputs it used may now be replaced by a newer staging.
      await this.releaseInputs?.();
    }
  }

  /** Stages the job's inputs and gives the task its `$OUTDIR`; returns that directory. */
  private async prepareData(data: NonNullable<TaskAssignment['data']>, tmpdir: string, env: Record<string, string>, runAs: RunAs): Promise<string> {
    if (!this.ctx.data) throw new TaskDataError('this agent was started without a data cache (--state-dir) and cannot run jobs with -data/-outdir', { kind: DataFailureKind.NodeConfiguration });
    const owner = { uid: this.assignment.user.uid, gid: this.assignment.user.gid };
    const outdir = await makeOutdir(tmpdir, owner);
    env['OUTDIR'] = outdir;
    this.releaseInputs = await this.ctx.data.prepareInputs(data, this.dataUser(runAs));
    return outdir;
  }

  /** Staging and `file://` uploads run as the task's user (agent/user-side-data.ts). */
  private dataUser(runAs: RunAs): TaskDataUser {
    return { identity: this.assignment.user, groups: this.ctx.groups, asSelf: runAs.kind === 'self' };
  }

  /**
   * For a task of the agent's own user only (the agent looks with that user's rights): a clear
   * reason before output files are made. Tasks of other users are checked by their writer and
   * by qfarm-exec, as the user.
   */
  private checkOwnCwd(): void {
    const cwd = this.assignment.cwd;
    let stat: fs.Stats;
    try {
      stat = fs.statSync(cwd);
    } catch {
      throw new TaskSetupError(FailedCode.BeforeJob, `working directory ${cwd} does not exist on host ${this.ctx.hostname}`);
    }
    if (!stat.isDirectory()) throw new TaskSetupError(FailedCode.BeforeJob, `working directory ${cwd} is not a directory on host ${this.ctx.hostname}`);
  }

  /**
   * Opens the files SGE would write; `-j y` and pty mode write everything to the stdout file.
   * For another user, a writer running as that user decides everything about the path.
   */
  private async openOutputs(runAs: RunAs, umask: number, sinks: OutputSink[], log: Logger): Promise<{ stdout: OutputSink; stderr: OutputSink }> {
    const a = this.assignment;
    const open = async (given: string, kind: 'o' | 'e'): Promise<{ sink: OutputSink; file: string }> => {
      const defaultName = defaultOutputName(a.jobName, a.jobId, a.taskId, kind);
      let opened: { sink: OutputSink; file: string };
      if (runAs.kind === 'drop') {
        const file = expandOutputPath(given, { cwd: a.cwd, hostname: this.ctx.hostname, defaultName });
        opened = file === '/dev/null' ? { sink: openFileSink(file, a.user.name, umask, log), file } : await openUserSink({ path: file, defaultName, cwd: a.cwd }, a.user, this.ctx.groups, umask, log);
      } else {
        const file = resolveOutputPath(given, { cwd: a.cwd, hostname: this.ctx.hostname, jobName: a.jobName, jobId: a.jobId, taskId: a.taskId, kind, user: a.user.name });
        opened = { sink: openFileSink(file, a.user.name, umask, log), file };
      }
      sinks.push(opened.sink);
      return opened;
    };
    const stdout = await open(a.stdoutPath, 'o');
    if (a.joinOutput || a.pty) return { stdout: stdout.sink, stderr: stdout.sink };
    // Two writers appending to one file would interleave badly: the same file shares one sink.
    const stderrGiven = expandOutputPath(a.stderrPath, { cwd: a.cwd, hostname: this.ctx.hostname, defaultName: defaultOutputName(a.jobName, a.jobId, a.taskId, 'e') });
    if (stderrGiven === stdout.file) return { stdout: stdout.sink, stderr: stdout.sink };
    return { stdout: stdout.sink, stderr: (await open(a.stderrPath, 'e')).sink };
  }

  private writeScript(tmpdir: string, owner: Owner | null): string | null {
    const command = this.assignment.command;
    if (command.kind !== 'script') return null;
    return writeScriptFile(tmpdir, scriptFileName(this.assignment), command.script, owner);
  }

  /** Spawn → watch → drain → map: runs the task and turns its end into the result. */
  private async execute(
    launch: UserLaunch,
    env: Record<string, string>,
    specFd: number,
    outputs: { stdout: OutputSink; stderr: OutputSink },
    setupStartedAt: number,
    log: Logger,
  ): Promise<TaskResult> {
    const a = this.assignment;
    let started: Started;
    try {
      started = await this.spawn(launch, env, outputs);
    } catch (err) {
      return this.failure(setupStartedAt, FailedCode.BeforeJob, `cannot start ${launch.argv.join(' ').slice(0, 200)} for user ${a.user.name}: ${(err as Error).message}`);
    }
    const startedAt = this.clock.now();
    if (this.input && started.input) this.input.attach(started.input);
    const tree = new ProcessTree(started.pid, { name: TASK_TAG_VAR, value: env[TASK_TAG_VAR]! }, this.clock);
    this.tree = tree;
    const sampler = new TreeSampler(tree);
    this.events.started(started.pid, startedAt, env[TASK_TAG_VAR]!);
    if (this.killRequest) this.killing ??= tree.kill(this.killRequest.graceMs, this.killRequest.warnSignal);

    const watcher = new LimitWatcher({
      source: sampler,
      clock: this.clock,
      vmemLimitBytes: a.vmemBytes === null ? null : a.vmemBytes * a.slots,
      wallclockSeconds: a.wallclockSeconds,
      sampleIntervalMs: this.ctx.sampleIntervalMs ?? 1000,
      usageIntervalMs: this.ctx.usageIntervalMs ?? 2000,
      onUsage: (usage) => this.events.usage(usage),
      onLimit: (reason) => this.limitKill(reason, tree),
      onSampleError: (err) => log.warn({ err }, 'sampling the process tree failed'),
    });
    watcher.start();
    const exit = await started.exited;
    this.input?.close();
    watcher.stop();

    await this.drain(started, tree, log);
    const endedAt = this.clock.now();
    const reaped = await started.reapedCpu;
    if (reaped) sampler.addReapedCpu(reaped.utimeSeconds, reaped.stimeSeconds);
    return exitResult({
      exit,
      setupFailure: exit.code === SETUP_FAILED_EXIT ? readSetupFailure(specFd) : undefined,
      limitReason: this.limitReason,
      killReason: this.killRequest?.failedReason,
      userName: a.user.name,
      hostname: this.ctx.hostname,
      setupStartedAt,
      startedAt,
      endedAt,
      usage: sampler.finish(),
    });
  }

  /** Starts the task; its output goes to its files and, live, to the master. */
  private async spawn(launch: UserLaunch, env: Record<string, string>, outputs: { stdout: OutputSink; stderr: OutputSink }): Promise<Started> {
    const a = this.assignment;
    const sink = (stream: OutputStream, file: OutputSink) => (data: Buffer) => {
      file.write(data);
      this.events.output(stream, data);
    };
    const onStdout = sink('stdout', outputs.stdout);
    // With -j y the stream lands in the stdout file, so it is streamed as stdout too.
    const onStderr = sink(a.joinOutput ? 'stdout' : 'stderr', outputs.stderr);
    if (a.pty) return spawnPty(launch, a.user, env.TERM ?? 'xterm', this.ctx.childCpu, onStdout);
    return spawnPipes(launch, a.user, this.ctx.childCpu, onStdout, onStderr, this.input !== undefined);
  }

  /**
   * The first process ended. SGE ends a job then: whatever it left behind is killed too, and its
   * output is read to the end — yet pipes held open by a process we could not kill must not hang
   * the result forever.
   */
  private async drain(started: Started, tree: ProcessTree, log: Logger): Promise<void> {
    await this.killing;
    await tree.killLeftovers();
    let cancelLinger = (): void => undefined;
    const lingered = new Promise<boolean>((resolve) => (cancelLinger = this.clock.setTimeout(() => resolve(false), OUTPUT_LINGER_MS)));
    const closedInTime = await Promise.race([started.outputClosed.then(() => true), lingered]);
    cancelLinger();
    if (!closedInTime) {
      // Something outside the known tree still holds the task's stdout/stderr: find it by its tag.
      log.debug('output still open after the task ended; killing tagged leftovers');
      await tree.kill(0);
    }
    const cancelAbandon = this.clock.setTimeout(() => {
      log.warn(`output pipes still open ${OUTPUT_ABANDON_MS / 1000} s after the task ended; closing them`);
      started.abandonOutput();
    }, OUTPUT_ABANDON_MS);
    await started.outputClosed;
    cancelAbandon();
  }

  private limitKill(reason: string, tree: ProcessTree): void {
    if (this.limitReason || this.killRequest) return;
    this.limitReason = reason;
    this.ctx.log.info({ attemptId: this.attemptId, reason }, 'task exceeded a limit; killing its process tree');
    this.killing ??= tree.kill(0);
  }
}
