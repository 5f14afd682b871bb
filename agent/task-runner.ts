import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pty from 'node-pty';
import type { Logger } from 'pino';
import { FailedCode, type OutputStream, type TaskAssignment, type TaskFinished, type TaskUsage } from '../protocol/agent-messages.js';
import type { ChildCpuAccount } from './child-cpu.js';
import type { GroupSetup } from './supplementary-groups.js';
import { longTimeout } from './long-timer.js';
import { OutputFileError, resolveOutputPath } from './output-files.js';
import { openFileSink, openUserSink, type OutputSink } from './output-sink.js';
import { ProcessTree } from './process-tree.js';
import { TreeSampler } from './proc-stats.js';
import { scriptFileName, taskArgv } from './task-command.js';
import { TASK_TAG_VAR, taskEnvironment } from './task-environment.js';
import { runAsFor, TaskUserError, type RunAs } from './task-user.js';
import { makeOutdir, TaskDataError, type NodeData } from './task-data.js';
import type { TaskDataUser } from './user-side-data.js';

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
}

export interface RunnerContext {
  /** Host name the agent reports; the task's HOSTNAME and `$HOSTNAME` in output paths. */
  hostname: string;
  agentUid: number;
  /** Parent of per-task TMPDIRs; must be reachable by every task user (so not under /root). */
  tmpRoot: string;
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

const signalNumber = (name: string): number => (os.constants.signals as Record<string, number>)[name] ?? 0;
const signalName = (num: number): string | null =>
  Object.entries(os.constants.signals).find(([, n]) => n === num)?.[0] ?? null;

/** A child process started either through pipes or in a pty, behind one small interface. */
interface Started {
  pid: number;
  /** Resolves when the first process exited (its output may still be in flight). */
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** Resolves when the output pipes are closed: every byte has been read. */
  outputClosed: Promise<void>;
  /** Stop waiting for output still held open by processes that escaped the kill. */
  abandonOutput(): void;
  /** CPU the kernel charged the agent for reaping this child (see child-cpu.ts). */
  reapedCpu: Promise<{ utimeSeconds: number; stimeSeconds: number } | undefined>;
}

/**
 * Runs one attempt from assignment to result. `done` never rejects: every failure, including a
 * bug in setup, becomes a result with a failed code and a reason, so one task cannot take down
 * the agent.
 */
export class TaskRun {
  readonly done: Promise<TaskResult>;
  private killRequest: { reason: string; graceMs: number; failedReason: string; warnSignal: NodeJS.Signals } | undefined;
  private tree: ProcessTree | undefined;
  private killing: Promise<void> | undefined;
  private limitReason: string | undefined;

  constructor(
    readonly assignment: TaskAssignment,
    private readonly ctx: RunnerContext,
    private readonly events: TaskEvents,
  ) {
    this.done = this.run().catch((err: unknown) => this.failure(Date.now(), FailedCode.BeforeJob, `agent error: ${(err as Error).message}`));
  }

  get attemptId(): string {
    return this.assignment.attemptId;
  }

  /**
   * qdel or cancel: kill the whole tree (`warnSignal`, by default SIGTERM; SIGKILL after
   * graceMs); the result says why.
   */
  kill(reason: string, graceMs: number, warnSignal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.killRequest) return;
    this.killRequest = { reason, graceMs, failedReason: reason, warnSignal };
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
    try {
      this.checkCwd();
      tmpdir = await this.makeTmpdir(runAs);
      const outputs = await this.openOutputs(runAs, sinks, log);
      const scriptFile = await this.writeScript(tmpdir, runAs);
      const env = taskEnvironment(a, { tmpdir, hostname: this.ctx.hostname, runAs });
      const outdir = a.data ? await this.prepareData(a.data, tmpdir, env, runAs) : undefined;
      if (this.killRequest) return this.failure(startedAt, FailedCode.AfterJob, `${this.killRequest.reason} (before the task started)`);
      // Dropping privileges through setpriv keeps the user's supplementary groups; the child is then
      // spawned as root and setpriv switches identity before exec'ing the task (same pid).
      const prefix = runAs.kind === 'drop' ? (this.ctx.groups?.prefix(runAs.uid, runAs.gid) ?? null) : null;
      const argv = prefix ? [...prefix, ...taskArgv(a, scriptFile)] : taskArgv(a, scriptFile);
      const spawnAs: RunAs = prefix ? { kind: 'self' } : runAs;
      const result = await this.execute(argv, env, spawnAs, outputs, startedAt, log);
      // Outputs are uploaded and verified before the result is reported: the master commits a
      // task only with its outputs in place. A failed upload fails this attempt, not the task.
      if (outdir && a.data?.outputUrl && result.exitStatus === 0 && result.failedCode === FailedCode.None) {
        this.events.uploading?.();
        result.outputs = await this.ctx.data!.uploadOutputs(outdir, a.data.outputUrl, this.dataUser(runAs));
      }
      return result;
    } catch (err) {
      if (err instanceof TaskDataError) return { ...this.failure(startedAt, FailedCode.BeforeJob, err.message), retryable: true };
      if (err instanceof TaskSetupError) return this.failure(startedAt, err.failedCode, err.message);
      if (err instanceof OutputFileError) return this.failure(startedAt, FailedCode.OpenOutput, err.message);
      throw err;
    } finally {
      // Before the result goes out: whoever reads the files after `finished` sees all of it.
      for (const sink of sinks) await sink.close().catch((err: unknown) => log.warn({ err }, 'closing an output file failed'));
      if (tmpdir) await fsp.rm(tmpdir, { recursive: true, force: true }).catch((err: unknown) => log.warn({ err, tmpdir }, 'removing TMPDIR failed'));
    }
  }

  /** Stages the job's inputs and gives the task its `$OUTDIR`; returns that directory. */
  private async prepareData(data: NonNullable<TaskAssignment['data']>, tmpdir: string, env: Record<string, string>, runAs: RunAs): Promise<string> {
    if (!this.ctx.data) throw new TaskDataError('this agent was started without a data cache (--state-dir) and cannot run jobs with -data/-outdir');
    const owner = { uid: this.assignment.user.uid, gid: this.assignment.user.gid };
    const outdir = await makeOutdir(tmpdir, owner);
    env['OUTDIR'] = outdir;
    await this.ctx.data.prepareInputs(data, this.dataUser(runAs));
    return outdir;
  }

  /** Staging and `file://` uploads run as the task's user (agent/user-side-data.ts). */
  private dataUser(runAs: RunAs): TaskDataUser {
    return { identity: this.assignment.user, groups: this.ctx.groups, asSelf: runAs.kind === 'self' };
  }

  private checkCwd(): void {
    const cwd = this.assignment.cwd;
    if (!path.isAbsolute(cwd)) throw new TaskSetupError(FailedCode.BeforeJob, `working directory "${cwd}" is not an absolute path`);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(cwd);
    } catch {
      throw new TaskSetupError(FailedCode.BeforeJob, `working directory ${cwd} does not exist on host ${this.ctx.hostname}`);
    }
    if (!stat.isDirectory()) throw new TaskSetupError(FailedCode.BeforeJob, `working directory ${cwd} is not a directory on host ${this.ctx.hostname}`);
  }

  private async makeTmpdir(runAs: RunAs): Promise<string> {
    const a = this.assignment;
    const dir = await fsp.mkdtemp(path.join(this.ctx.tmpRoot, `qfarm.${a.jobId}.${a.taskId ?? 'undefined'}.`));
    await fsp.chmod(dir, 0o700);
    if (runAs.kind === 'drop') await fsp.chown(dir, runAs.uid, runAs.gid);
    return dir;
  }

  /** Opens the files SGE would write; `-j y` and pty mode write everything to the stdout file. */
  private async openOutputs(runAs: RunAs, sinks: OutputSink[], log: Logger): Promise<{ stdout: OutputSink; stderr: OutputSink }> {
    const a = this.assignment;
    const common = { cwd: a.cwd, hostname: this.ctx.hostname, jobName: a.jobName, jobId: a.jobId, taskId: a.taskId, user: a.user.name };
    const open = async (file: string): Promise<OutputSink> => {
      const sink =
        runAs.kind === 'drop' && file !== '/dev/null'
          ? await openUserSink(file, a.user, this.ctx.groups?.prefix(runAs.uid, runAs.gid) ?? null, log)
          : openFileSink(file, a.user.name, log);
      sinks.push(sink);
      return sink;
    };
    const stdoutFile = resolveOutputPath(a.stdoutPath, { ...common, kind: 'o' });
    const stdout = await open(stdoutFile);
    if (a.joinOutput || a.pty) return { stdout, stderr: stdout };
    const stderrFile = resolveOutputPath(a.stderrPath, { ...common, kind: 'e' });
    if (stderrFile === stdoutFile) return { stdout, stderr: stdout };
    return { stdout, stderr: await open(stderrFile) };
  }

  private async writeScript(tmpdir: string, runAs: RunAs): Promise<string | null> {
    const command = this.assignment.command;
    if (command.kind !== 'script') return null;
    const file = path.join(tmpdir, scriptFileName(this.assignment));
    await fsp.writeFile(file, command.script, { mode: 0o700, flag: 'wx' });
    if (runAs.kind === 'drop') await fsp.chown(file, runAs.uid, runAs.gid);
    return file;
  }

  private async execute(
    argv: string[],
    env: Record<string, string>,
    runAs: RunAs,
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
      started = a.pty ? this.spawnPty(argv, env, runAs, onStdout) : await this.spawnPipes(argv, env, runAs, onStdout, onStderr);
    } catch (err) {
      return this.failure(setupStartedAt, FailedCode.BeforeJob, `cannot start ${argv.join(' ').slice(0, 200)}: ${(err as Error).message}`);
    }
    const startedAt = Date.now();
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

  private limitKill(reason: string, tree: ProcessTree): void {
    if (this.limitReason || this.killRequest) return;
    this.limitReason = reason;
    this.ctx.log.info({ attemptId: this.attemptId, reason }, 'task exceeded a limit; killing its process tree');
    this.killing ??= tree.kill(0);
  }

  private spawnPipes(
    argv: string[],
    env: Record<string, string>,
    runAs: RunAs,
    onStdout: (b: Buffer) => void,
    onStderr: (b: Buffer) => void,
  ): Promise<Started> {
    return new Promise((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), {
        cwd: this.assignment.cwd,
        env,
        // Own session and process group, so the tree can be signalled as a whole.
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(runAs.kind === 'drop' ? { uid: runAs.uid, gid: runAs.gid } : {}),
      });
      child.stdout!.on('data', onStdout);
      child.stderr!.on('data', onStderr);
      let resolveReaped!: (v: { utimeSeconds: number; stimeSeconds: number } | undefined) => void;
      const reapedCpu = new Promise<{ utimeSeconds: number; stimeSeconds: number } | undefined>((r) => (resolveReaped = r));
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolveExited) => {
        child.once('exit', (code, signal) => {
          void this.ctx.childCpu.childExited().then(resolveReaped);
          resolveExited({ code, signal });
        });
      });
      let resolveClosed!: () => void;
      const outputClosed = new Promise<void>((r) => (resolveClosed = r));
      child.once('close', () => resolveClosed());
      child.once('error', (err) => {
        if (child.pid === undefined) reject(err);
      });
      child.once('spawn', () => {
        resolve({
          pid: child.pid!,
          exited,
          outputClosed,
          reapedCpu,
          abandonOutput: () => {
            child.stdout!.destroy();
            child.stderr!.destroy();
            resolveClosed();
          },
        });
      });
    });
  }

  private spawnPty(argv: string[], env: Record<string, string>, runAs: RunAs, onStdout: (b: Buffer) => void): Started {
    const proc = pty.spawn(argv[0]!, argv.slice(1), {
      name: env.TERM ?? 'xterm',
      cols: 200,
      rows: 50,
      cwd: this.assignment.cwd,
      env,
      encoding: null,
      ...(runAs.kind === 'drop' ? { uid: runAs.uid, gid: runAs.gid } : {}),
    });
    proc.onData((data: string | Buffer) => onStdout(Buffer.isBuffer(data) ? data : Buffer.from(data)));
    let reapedCpu: Promise<{ utimeSeconds: number; stimeSeconds: number } | undefined> = Promise.resolve(undefined);
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      proc.onExit(({ exitCode, signal }) => {
        // node-pty reaps on its own thread, so this reading is later than for piped children.
        reapedCpu = this.ctx.childCpu.childExited();
        resolve(signal ? { code: null, signal: signalName(signal) } : { code: exitCode, signal: null });
      });
    });
    return {
      pid: proc.pid,
      exited,
      // node-pty reports the exit after draining the terminal.
      outputClosed: exited.then(() => undefined),
      abandonOutput: () => undefined,
      get reapedCpu() {
        return reapedCpu;
      },
    };
  }
}
