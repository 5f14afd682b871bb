import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { FailedCode, type OutputStream, type TaskAssignment, type TaskFinished, type TaskUsage } from '../protocol/agent-messages.js';
import { launchAsUser, spawnAsUser, type UserLaunch } from './as-user.js';
import { spawnPipes, spawnPty, type Started } from './task-process.js';
import type { ChildCpuAccount } from './child-cpu.js';
import type { GroupSetup } from './supplementary-groups.js';
import { longTimeout } from './long-timer.js';
import { defaultOutputName, expandOutputPath, OutputFileError, resolveOutputPath, WorkingDirectoryError } from './output-files.js';
import { openFileSink, openUserSink, type OutputSink } from './output-sink.js';
import { ProcessTree } from './process-tree.js';
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

/** The end of an attempt, as the `finished` frame carries it. */
export type TaskResult = Omit<TaskFinished, 'type' | 'attemptId'>;

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

const signalNumber = (name: string): number => (os.constants.signals as Record<string, number>)[name] ?? 0;


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

  constructor(
    readonly assignment: TaskAssignment,
    private readonly ctx: RunnerContext,
    private readonly events: TaskEvents,
  ) {
    this.input = assignment.interactive === true ? new TaskInput((bytes) => events.inputWritten?.(bytes), ctx.log.child({ attemptId: assignment.attemptId })) : undefined;
    // An error the agent did not expect (its TMPDIR root missing, a full disk) is the node's
    // failure, not the job's: the task runs again elsewhere (and counts against this host).
    this.done = this.run()
      .catch((err: unknown) => ({ ...this.failure(Date.now(), FailedCode.BeforeJob, `agent error on ${this.ctx.hostname}: ${(err as Error).message}`), retryable: true }))
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

  private failure(startedAt: number, failedCode: number, failedReason: string, usage?: TaskUsage): TaskResult {
    return {
      exitStatus: 0,
      signal: null,
      failedCode,
      failedReason,
      startedAt,
      endedAt: Date.now(),
      usage: usage ?? { cpuSeconds: 0, utimeSeconds: 0, stimeSeconds: 0, rssBytes: 0, maxRssBytes: 0, vmemBytes: 0, maxVmemBytes: 0, ioBytes: 0 },
    };
  }

  private async run(): Promise<TaskResult> {
    const a = this.assignment;
    const startedAt = Date.now();
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
      tmpdir = await this.makeTmpdir();
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
      if (tmpdir) await this.removeTmpdir(tmpdir, handedOver, log);
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

  private async makeTmpdir(): Promise<string> {
    const a = this.assignment;
    const dir = await fsp.mkdtemp(path.join(this.ctx.tmpRoot, `qfarm.${a.jobId}.${a.taskId ?? 'undefined'}.`));
    await fsp.chmod(dir, 0o700);
    return dir;
  }

  /**
   * Once the user had the TMPDIR, its content is theirs and may change under a recursive
   * delete (a directory swapped for a symlink to /etc between check and use, by a process that
   * escaped the kill): it is removed by `rm` running as the user, which can only delete what the
   * user could. Before that (or for the agent's own user) the agent removes it itself.
   */
  private async removeTmpdir(tmpdir: string, handedOver: boolean, log: Logger): Promise<void> {
    if (!handedOver) {
      await fsp.rm(tmpdir, { recursive: true, force: true }).catch((err: unknown) => log.warn({ err, tmpdir }, 'removing TMPDIR failed'));
      return;
    }
    const user = this.assignment.user;
    const rm = spawnAsUser(['/bin/rm', '-rf', '--', tmpdir], user, this.ctx.groups, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    rm.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => {
      rm.once('error', (err) => {
        stderr += err.message;
        resolve(null);
      });
      rm.once('close', resolve);
    });
    if (code !== 0) log.warn({ tmpdir, user: user.name, code, stderr: stderr.trim() }, `TMPDIR could not be removed as user ${user.name}; left in place`);
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

  private async execute(
    launch: UserLaunch,
    env: Record<string, string>,
    specFd: number,
    outputs: { stdout: OutputSink; stderr: OutputSink },
    setupStartedAt: number,
    log: Logger,
  ): Promise<TaskResult> {
    const a = this.assignment;
    const sink = (stream: OutputStream, file: OutputSink) => (data: Buffer) => {
      file.write(data);
      this.events.output(stream, data);
    };
    const onStdout = sink('stdout', outputs.stdout);
    // With -j y the stream lands in the stdout file, so it is streamed as stdout too.
    const onStderr = sink(a.joinOutput ? 'stdout' : 'stderr', outputs.stderr);

    let started: Started;
    try {
      started = a.pty ? spawnPty(launch, a.user, env.TERM ?? 'xterm', this.ctx.childCpu, onStdout) : await spawnPipes(launch, a.user, this.ctx.childCpu, onStdout, onStderr, this.input !== undefined);
    } catch (err) {
      return this.failure(setupStartedAt, FailedCode.BeforeJob, `cannot start ${launch.argv.join(' ').slice(0, 200)} for user ${a.user.name}: ${(err as Error).message}`);
    }
    const startedAt = Date.now();
    if (this.input && started.input) this.input.attach(started.input);
    const tree = new ProcessTree(started.pid, { name: TASK_TAG_VAR, value: env[TASK_TAG_VAR]! });
    this.tree = tree;
    const sampler = new TreeSampler(tree);
    this.events.started(started.pid, startedAt, env[TASK_TAG_VAR]!);
    if (this.killRequest) this.killing ??= tree.kill(this.killRequest.graceMs, this.killRequest.warnSignal);

    // Sampling, limits and usage frames while the task runs.
    const sampleMs = this.ctx.sampleIntervalMs ?? 1000;
    const usageMs = this.ctx.usageIntervalMs ?? 2000;
    // The first sample is reported at once, so even a short task shows up in qstat -j with usage.
    let lastUsageAt = 0;
    let sampling = false;
    const vmemLimit = a.vmemBytes === null ? null : a.vmemBytes * a.slots;
    const sampleOnce = async (): Promise<void> => {
      if (sampling) return;
      sampling = true;
      try {
        const usage = await sampler.sample();
        if (vmemLimit !== null && usage.maxVmemBytes > vmemLimit && !this.limitReason && !this.killRequest) {
          this.limitKill(`h_vmem limit of ${vmemLimit} bytes exceeded (${usage.maxVmemBytes} bytes used)`, tree);
        }
        if (Date.now() - lastUsageAt >= usageMs) {
          lastUsageAt = Date.now();
          this.events.usage(usage);
        }
      } catch (err) {
        log.warn({ err }, 'sampling the process tree failed');
      } finally {
        sampling = false;
      }
    };
    const firstSample = setTimeout(() => void sampleOnce(), Math.min(100, sampleMs));
    const sampleTimer = setInterval(() => void sampleOnce(), sampleMs);
    const cancelWallTimer =
      a.wallclockSeconds === null
        ? undefined
        : longTimeout(() => this.limitKill(`h_rt limit of ${a.wallclockSeconds}s exceeded`, tree), a.wallclockSeconds * 1000);

    const exit = await started.exited;
    this.input?.close();
    clearTimeout(firstSample);
    clearInterval(sampleTimer);
    cancelWallTimer?.();
    // SGE ends a job when its first process ends: whatever it left behind is killed too.
    await this.killing;
    await tree.killLeftovers();
    const wait = (ms: number) => new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref());
    if (!(await Promise.race([started.outputClosed.then(() => true), wait(200)]))) {
      // Something outside the known tree still holds the task's stdout/stderr: find it by its tag.
      log.debug('output still open after the task ended; killing tagged leftovers');
      await tree.kill(0);
    }
    // Pipes held open by a process we could not kill must not hang the result forever.
    const abandonTimer = setTimeout(() => {
      log.warn('output pipes still open 2 s after the task ended; closing them');
      started.abandonOutput();
    }, 2000);
    await started.outputClosed;
    clearTimeout(abandonTimer);
    const endedAt = Date.now();
    const reaped = await started.reapedCpu;
    if (reaped) sampler.addReapedCpu(reaped.utimeSeconds, reaped.stimeSeconds);

    if (exit.code === SETUP_FAILED_EXIT) {
      const reason = readSetupFailure(specFd);
      if (reason !== undefined) return this.failure(setupStartedAt, FailedCode.BeforeJob, this.setupFailureReason(reason));
    }
    const exitStatus = exit.code ?? 128 + signalNumber(exit.signal ?? '');
    let failedCode: number = FailedCode.None;
    let failedReason = '';
    if (this.limitReason) {
      failedCode = FailedCode.LimitExceeded;
      failedReason = this.limitReason;
    } else if (this.killRequest) {
      failedCode = FailedCode.AfterJob;
      failedReason = this.killRequest.failedReason;
    }
    return {
      exitStatus: Math.min(255, Math.max(0, exitStatus)),
      signal: exit.signal,
      failedCode,
      failedReason,
      startedAt,
      endedAt,
      usage: sampler.finish(),
    };
  }

  /** qfarm-exec's reason as the task's: a working directory failure reads like the writer's. */
  private setupFailureReason(reason: string): string {
    const a = this.assignment;
    const cwd = /^cannot enter working directory (.*): ([^:]+)$/.exec(reason);
    if (cwd) return new WorkingDirectoryError(cwd[1]!, a.user.name, cwd[2]!).onHost(this.ctx.hostname);
    return `the task could not be started for user ${a.user.name} on host ${this.ctx.hostname}: ${reason}`;
  }

  private limitKill(reason: string, tree: ProcessTree): void {
    if (this.limitReason || this.killRequest) return;
    this.limitReason = reason;
    this.ctx.log.info({ attemptId: this.attemptId, reason }, 'task exceeded a limit; killing its process tree');
    this.killing ??= tree.kill(0);
  }
}
