import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { JobCommand } from '../../protocol/job-spec.js';
import { buildSubmission } from '../build-submission.js';
import { BadOptionError } from '../cli-errors.js';
import { locateMaster } from '../master-location.js';
import { mergeQsubOptions, parseQsubWords, type OptionSource } from '../qsub-options.js';
import { err, out } from '../run-command.js';
import { currentSubmitter } from '../submitter.js';
import { openInteractive } from './interactive-connection.js';
import { relayTerminal } from './terminal-relay.js';

export type InteractiveVerb = 'qrsh' | 'qlogin';

/**
 * The user's login shell on the node, found there as the user (the master does not know the
 * node's passwd): what qlogin and a qrsh without a command run.
 */
const LOGIN_SHELL: string[] = ['/bin/sh', '-c', 'shell=$(getent passwd "$(id -un)" | cut -d: -f7); [ -x "$shell" ] || shell=/bin/sh; exec "$shell" -l'];

/**
 * `qrsh [options] [command args…]` and `qlogin [options]`: qsub's options (-q, -l, -pe, -cwd,
 * -v, -V, -now y|n, -N…), an interactive job scheduled like any other, its terminal relayed
 * through the master. `-now y` is the default as in SGE. The exit status is the command's.
 */
export async function interactiveMain(verb: InteractiveVerb, argv: string[], environment: NodeJS.ProcessEnv = process.env): Promise<number> {
  const source: OptionSource = {
    label: 'the command line',
    allowCommand: verb === 'qrsh',
    environment,
    processCwd: process.cwd(),
    readFile: (file) => readFileSync(file, 'utf8'),
  };
  // SGE's -verbose (qrsh prints qlogin's progress lines) is not a qsub option: taken when it leads.
  let leading = 0;
  while (argv[leading] === '-verbose') leading++;
  const verbose = leading > 0;
  const parsed = parseQsubWords(argv.slice(leading), source);
  const options = mergeQsubOptions([parsed.options]);
  if (options.array !== undefined) throw new BadOptionError(verb, '-t', `${verb}: option "-t" is not allowed for interactive jobs`);
  const words = parsed.positional;
  // SGE's qrsh hands the command line to the remote shell, as rsh does.
  const command: JobCommand = words.length > 0 ? { kind: 'binary', argv: ['/bin/sh', '-c', words.join(' ')] } : { kind: 'binary', argv: LOGIN_SHELL };
  // As SGE 8.1.9 names them (test/fixtures/sge/interactive.txt): the command's name, QRLOGIN, QLOGIN.
  const name = options.name ?? (verb === 'qlogin' ? 'QLOGIN' : words.length > 0 ? path.basename(words[0]!.trim().split(/\s+/)[0]!) || 'QRSH' : 'QRLOGIN');
  const tty = process.stdin.isTTY === true && process.stdout.isTTY === true && options.pty !== false;
  const env = { ...options.env };
  if (tty) env['TERM'] = environment.TERM ?? 'xterm';
  const job = buildSubmission({ ...options, name, env }, command, {
    submitter: currentSubmitter(),
    submitHost: os.hostname(),
    processCwd: source.processCwd,
    environment,
    umask: process.umask(),
  });
  const ws = await openInteractive(locateMaster(environment));
  const talkative = verb === 'qlogin' || verbose;
  let submittedJob = 0;
  const result = await relayTerminal(
    ws,
    {
      type: 'submit',
      verb,
      job,
      tty: tty ? { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 } : null,
      now: options.now ?? true,
    },
    {
      submitted: (jobId, jobName) => {
        submittedJob = jobId;
        if (!talkative) return;
        out(`Your job ${jobId} ("${jobName}") has been submitted`);
        // SGE ends this line only once the job is scheduled; a refusal follows on the same line.
        process.stderr.write('waiting for interactive job to be scheduled ...');
      },
      scheduled: (host) => {
        if (!talkative) return;
        process.stderr.write('\n');
        err(`Your interactive job ${submittedJob} has been successfully scheduled.`);
        err(`Establishing builtin session to host ${host} ...`);
      },
    },
  );
  if (result.message) err(result.message);
  return result.exitStatus;
}
