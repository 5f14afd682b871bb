import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JobCommand } from '../protocol/job-spec.js';
import type { JobSubmitRequest } from '../protocol/api.js';
import type { JobWaitResponse } from '../protocol/api.js';
import { ApiRequestError, MasterUnreachableError, type ApiClient } from './api-client.js';
import { buildSubmission } from './build-submission.js';
import { BadOptionError, CliError, ExitCode } from './cli-errors.js';
import { connect } from './connect.js';
import { qfarmHome } from './master-location.js';
import { emptyQsubOptions, mergeQsubOptions, parseQsubWords, type OptionSource, type QsubOptions, type VerifyMode } from './qsub-options.js';
import { verifySubmission } from './qsub-verify.js';
import { err, out } from './run-command.js';
import { scriptDirectiveWords, splitShellWords } from './shell-words.js';
import { currentSubmitter } from './submitter.js';
import { syncReport } from './sync-wait.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * SGE's default request files, lowest precedence first: the farm-wide one (SGE's
 * $SGE_ROOT/$SGE_CELL/common/sge_request is $QFARM_HOME/sge_request here), ~/.sge_request,
 * then ./.sge_request.
 */
function defaultRequestLayers(source: OptionSource, home: string): QsubOptions[] {
  const layers: QsubOptions[] = [];
  const farmWide = path.join(qfarmHome(source.environment), 'sge_request');
  for (const file of [farmWide, path.join(home, '.sge_request'), path.join(source.processCwd, '.sge_request')]) {
    if (!existsSync(file)) continue;
    const words = readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line) => splitShellWords(line));
    layers.push(parseQsubWords(words, { ...source, label: file, allowCommand: false }).options);
  }
  return layers;
}

export async function qsubMain(argv: string[], environment: NodeJS.ProcessEnv = process.env): Promise<number> {
  const processCwd = process.cwd();
  const submitter = currentSubmitter();
  const source: OptionSource = {
    label: 'the command line',
    allowCommand: true,
    environment,
    processCwd,
    readFile: (file) => readFileSync(file, 'utf8'),
  };
  const commandLine = parseQsubWords(argv, source);
  const cmdOptions = commandLine.options;
  const defaults = defaultRequestLayers(source, submitter.home);
  // -b and -C decide how the script is read, so they count before the script's own lines.
  const binary = cmdOptions.binary ?? mergeQsubOptions(defaults).binary ?? false;
  // After `--` every word is an argument of a script read from stdin.
  const first = commandLine.dashDash ? undefined : commandLine.positional[0];
  const rest = commandLine.dashDash ? commandLine.positional : commandLine.positional.slice(1);

  let command: JobCommand;
  let scriptOptions: QsubOptions = emptyQsubOptions();
  if (binary) {
    if (first === undefined) throw new BadOptionError('qsub', '-b', 'qsub: command required for a binary job', 'write qsub -b y COMMAND [ARGS...]');
    command = { kind: 'binary', argv: [first, ...rest] };
  } else {
    let script: string;
    let scriptName: string;
    if (first === undefined) {
      script = await readStdin();
      scriptName = 'STDIN';
      if (script === '') {
        throw new CliError('Unable to read script file because of error: no input read from stdin', ExitCode.EmptyStdin, "pipe the script into qsub, name a script file, or use 'qsub -b y COMMAND'");
      }
    } else {
      try {
        script = readFileSync(path.resolve(processCwd, first), 'utf8');
      } catch (error) {
        const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (error as NodeJS.ErrnoException).code === 'EACCES' ? 'Permission denied' : (error as Error).message;
        throw new CliError(
          `Unable to read script file because of error: error opening ${first}: ${reason}`,
          ExitCode.ScriptUnreadable,
          `check the path, or submit a command directly with 'qsub -b y ${first}'`,
        );
      }
      scriptName = first;
    }
    command = { kind: 'script', script, scriptName, args: rest };
    const prefix = cmdOptions.directivePrefix ?? '#$';
    scriptOptions = parseQsubWords(scriptDirectiveWords(script, prefix), { ...source, label: `the #$ lines of ${scriptName}`, allowCommand: false }).options;
  }

  // SGE's precedence: default request files < the script's #$ lines < the command line.
  const options = mergeQsubOptions([...defaults, scriptOptions, cmdOptions]);
  const submission = buildSubmission(options, command, { submitter, submitHost: os.hostname(), processCwd, environment, umask: process.umask() });
  // The body is checked by the master against the same schema (protocol JobSubmitRequest); qsub
  // does not load TypeBox before sending, to stay fast (see api-client.ts).

  const client = connect(environment);
  if (options.verify !== undefined && options.verify !== 'n') {
    const verified = await verifyAgainstHosts(submission, options.verify, client);
    if (verified !== null) return verified;
  }
  let submitted;
  try {
    submitted = await client.post('/jobs', submission, 'submitResponse');
  } catch (error) {
    if (error instanceof ApiRequestError) throw new CliError(`Unable to run job: ${error.error.replace(/^error:\s*/, '')}\nExiting.`, ExitCode.Failure, error.hint);
    throw error;
  }
  // SGE echoes the range as requested (`-t 1-10:2` → `3.1-10:2`), though qstat shows it as 1-9:2.
  const array = options.array ?? submitted.array;
  const id = array ? `${submitted.jobId}.${array.first}-${array.last}:${array.step}` : String(submitted.jobId);
  if (options.terse) out(id);
  else out(`Your ${array ? 'job-array' : 'job'} ${id} ("${submitted.name}") has been submitted`);
  if (options.now) {
    const scheduled = await waitImmediate(submitted.jobId, client, environment);
    if (!scheduled) return ExitCode.Failure;
  }
  if (!options.sync) return ExitCode.Ok;

  const wait = await waitForJob(submitted.jobId, client, environment);
  const report = syncReport(wait, array !== undefined);
  for (const line of report.lines) (line.stream === 'stdout' ? out : err)(line.text);
  return report.exitCode;
}

/**
 * `qsub -w e|w|v|p` against the hosts the master knows (any state: a disconnected host is still
 * part of the farm). Returns qsub's exit status when it ends here (`-w v`, or an error), or null
 * to go on submitting. Messages and streams as SGE 8.1.9 prints them (test/fixtures/sge/).
 */
async function verifyAgainstHosts(submission: JobSubmitRequest, mode: VerifyMode, client: ApiClient): Promise<number | null> {
  const { hosts } = await client.get('/hosts', 'hostsResponse');
  const found = verifySubmission(submission, hosts);
  if (found.unknownQueue !== null) {
    throw new CliError(
      `Unable to run job: Job was rejected because job requests unknown queue "${found.unknownQueue}"\nExiting.`,
      ExitCode.Failure,
      `the farm's groups are: ${[...new Set(hosts.map((h) => h.group))].join(', ') || '(no hosts yet)'}`,
    );
  }
  const ok = found.suitable.length > 0;
  if (mode === 'v' || mode === 'p') {
    if (ok) {
      out('verification: found suitable queue(s)');
      return ExitCode.Ok;
    }
    const reasons = found.reasons.length > 0 ? found.reasons : ['no execution hosts are known to the master'];
    throw new CliError(`Unable to run job: ${reasons.join('\n')}\nverification: no suitable queues\nExiting.`, ExitCode.Failure);
  }
  if (ok) return null;
  if (mode === 'e') {
    throw new CliError('Unable to run job: error: no suitable queues\nExiting.', ExitCode.Failure, found.reasons.join('; ') || 'no execution hosts are known to the master');
  }
  out('warning: no suitable queues');
  return null;
}

/** How long `qsub -now y` waits for every task to be placed (qfarm schedules on events, so this is ample). */
const NOW_WAIT_MS = 3000;

/**
 * `qsub -now y`: the job must start at once or not at all. Waits until no task is pending; if
 * some still are after the wait, deletes the job. SGE's lines, on stderr.
 */
async function waitImmediate(jobId: number, client: ApiClient, environment: NodeJS.ProcessEnv): Promise<boolean> {
  err('Waiting for immediate job to be scheduled.\n\n');
  const waitMs = Number(environment.QFARM_NOW_WAIT_MS ?? NOW_WAIT_MS);
  const deadline = Date.now() + (Number.isFinite(waitMs) && waitMs >= 0 ? waitMs : NOW_WAIT_MS);
  for (;;) {
    const { rows } = await client.get('/jobs', 'qstatResponse');
    // Scheduled: no task of the job waits in the queue any more (some may have ended already).
    if (!rows.some((row) => row.jobId === jobId && (row.state === 'qw' || row.state === 'hqw'))) {
      err(`Your immediate job ${jobId} has been successfully scheduled.`);
      return true;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await client.post('/jobs/delete', { targets: [{ job: String(jobId) }], users: [], force: false }, 'actionResponse');
  err('Your qsub request could not be scheduled; try again later.');
  return false;
}

/** How long `qsub -sync y` keeps trying to reach a master that went away (a restart, say). */
const SYNC_RECONNECT_MS = 10 * 60 * 1000;

/**
 * Long-polls until the job has finished, re-issuing the wait when the master answers
 * finished=false. A master that restarts (possibly on another port) is found again through
 * QFARM_HOME, as SGE's qsub -sync survives a qmaster restart; the job is durable there.
 */
async function waitForJob(jobId: number, first: ApiClient, environment: NodeJS.ProcessEnv): Promise<JobWaitResponse> {
  let client = first;
  let lostSince: number | null = null;
  let delay = 250;
  for (;;) {
    try {
      const wait = await client.get(`/jobs/${jobId}/wait`, 'jobWaitResponse', { timeoutMs: 0 });
      lostSince = null;
      delay = 250;
      if (wait.finished) return wait;
    } catch (error) {
      if (!(error instanceof MasterUnreachableError)) throw error;
      if (lostSince === null) {
        lostSince = Date.now();
        err(`qsub: lost contact with the qfarm master (${error.reason}); still waiting for job ${jobId}`);
      } else if (Date.now() - lostSince > SYNC_RECONNECT_MS) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5000);
      try {
        client = connect(environment);
      } catch {
        // master.json is rewritten at the master's start; keep the old address until then.
      }
    }
  }
}
