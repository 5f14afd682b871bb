import path from 'node:path';
import type { JobCommand, Submitter } from '../protocol/job-spec.js';
import type { JobSubmitRequest } from '../protocol/api.js';
import { CliError } from './cli-errors.js';
import { resourceRequest, type QsubOptions } from './qsub-options.js';

export interface SubmissionContext {
  /** The local user, for SGE's defaults (home as working directory, $HOME/$USER in -o/-e); never sent. */
  submitter: Submitter;
  submitHost: string;
  /** The directory qsub runs in. */
  processCwd: string;
  /** qsub's environment. */
  environment: NodeJS.ProcessEnv;
  /** qsub's umask: the job's tasks and output files follow it, as under SGE. */
  umask?: number;
}

/**
 * Variables SGE records from the submitter's environment and exports into every task
 * (`SGE_O_*`); `qstat -j` prints them as sge_o_home, sge_o_path, ...
 */
export function submitterEnvironment(ctx: SubmissionContext): Record<string, string> {
  const env: Record<string, string> = {
    SGE_O_HOME: ctx.submitter.home,
    SGE_O_LOGNAME: ctx.submitter.user,
    SGE_O_HOST: ctx.submitHost,
    SGE_O_WORKDIR: ctx.processCwd,
  };
  for (const name of ['PATH', 'SHELL', 'MAIL'] as const) {
    const value = ctx.environment[name];
    if (value !== undefined) env[`SGE_O_${name}`] = value;
  }
  return env;
}

/** Variables qsub never exports, even with -V: qfarm's own credentials. */
export const SECRET_VARIABLES = ['QFARM_TOKEN', 'QFARM_AGENT_TOKEN'] as const;

/**
 * Turns merged options and the command into the request body of `POST /jobs`. Who submits is
 * not in it: the master takes that from the connection.
 */
export function buildSubmission(options: QsubOptions, command: JobCommand, ctx: SubmissionContext): JobSubmitRequest {
  // SGE's default working directory is the submitter's home, not the current directory.
  const cwd = options.cwd ?? ctx.submitter.home;
  const env: Record<string, string> = {};
  if (options.exportAll) {
    for (const [name, value] of Object.entries(ctx.environment)) if (value !== undefined) env[name] = value;
  }
  Object.assign(env, submitterEnvironment(ctx), options.env);
  // The farm's API token must not travel into jobs (stored, shown by qstat -j, readable by tasks).
  for (const name of SECRET_VARIABLES) delete env[name];
  const defaultName = command.kind === 'binary' ? path.basename(command.argv[0]!) : command.scriptName === 'STDIN' ? 'STDIN' : path.basename(command.scriptName);
  const name = options.name ?? defaultName;
  checkJobName(name);
  const submission: JobSubmitRequest = {
    name,
    submitHost: ctx.submitHost,
    command,
    cwd,
    submitCwd: ctx.processCwd,
    joinOutput: options.joinOutput ?? false,
    env,
    hold: options.hold ?? false,
    holdJobs: options.holdJobs,
    priority: options.priority ?? 0,
    slots: options.slots ?? 1,
    resources: resourceRequest(options.resources),
    pty: options.pty ?? false,
  };
  if (options.stdoutPath !== undefined) submission.stdoutPath = outputPath(options.stdoutPath, cwd, ctx.submitter);
  if (options.stderrPath !== undefined) submission.stderrPath = outputPath(options.stderrPath, cwd, ctx.submitter);
  if (options.shell !== undefined) submission.shell = options.shell;
  if (options.array !== undefined) submission.array = options.array;
  if (options.holdJobsArray.length > 0) {
    if (options.array === undefined) {
      throw new CliError('Unable to run job: Can only specify "-hold_jid_ad" option with an array job (using "-t" option)\nExiting.', 1, 'add -t first-last, or use -hold_jid to wait for whole jobs');
    }
    submission.holdJobsArray = options.holdJobsArray;
  }
  if (options.queue !== undefined) submission.queue = options.queue;
  if (options.notify === true) submission.notify = true;
  if (options.startAfter !== undefined) submission.startAfter = options.startAfter;
  if (options.rerun !== undefined) submission.rerun = options.rerun;
  if (ctx.umask !== undefined) submission.umask = ctx.umask;
  if (options.dataInputs !== undefined || options.outputUrl !== undefined) {
    submission.data = { inputs: options.dataInputs ?? [], ...(options.outputUrl !== undefined ? { outputUrl: options.outputUrl } : {}) };
  }
  return submission;
}

/**
 * `-o`/`-e`: SGE's `$HOME` and `$USER` are known now and expanded (`$HOME` is the one pseudo
 * variable that makes a path absolute); then a relative path is made relative to the job's
 * working directory. `$JOB_ID $TASK_ID $JOB_NAME $HOSTNAME` stay for the master and agent.
 */
function outputPath(value: string, cwd: string, submitter: Submitter): string {
  const expanded = value.replace(/\$(HOME|USER)\b|\$\{(HOME|USER)\}/g, (_m, a?: string, b?: string) => ((a ?? b) === 'HOME' ? submitter.home : submitter.user));
  // A trailing slash says "a directory" (SGE then writes the default file name into it): keep it,
  // so that a missing directory fails the task instead of becoming a file of that name.
  return path.resolve(cwd, expanded) + (expanded.endsWith('/') && expanded !== '/' ? '/' : '');
}

/**
 * SGE's rules for job names (its messages, measured against SGE 8.1.9): a name may not start
 * with a digit (it would read as a job id in -hold_jid), nor hold `/ : @ \\ * ?` or blanks.
 */
export function checkJobName(name: string): void {
  const hint = 'choose a -N name of letters, digits (not first), dots, dashes and underscores';
  const reject = (reason: string): CliError => new CliError(`Unable to run job: ${reason}\nExiting.`, 1, hint);
  if (name.includes('/')) throw new CliError('qsub: argument to -N option must not contain / ', 2, hint);
  if (name === '') throw reject('denied: "" is not a valid object name');
  if (/^\d/.test(name)) throw reject(`denied: "${name}" is not a valid object name (cannot start with a digit)`);
  if (name.includes(':')) throw reject("Colon (':') not allowed in objectname");
  if (name.includes('@')) throw reject("At ('@') not allowed in objectname");
  if (/[\s\\*?]/.test(name)) throw reject(`denied: "${name}" is not a valid object name (blanks, \\, * and ? are not allowed)`);
}
