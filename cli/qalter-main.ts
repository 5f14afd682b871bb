import type { AlterRequest } from '../protocol/api.js';
import { checkedRequest } from './precompiled/checked-request.js';
import { printActionMessages } from './action-output.js';
import { checkJobName } from './build-submission.js';
import { CliError, ExitCode } from './cli-errors.js';
import { connect } from './connect.js';
import { parseJobTargets } from './job-targets.js';
import { emptyQsubOptions, parseQsubWords, resourceRequest } from './qsub-options.js';
import { parseVerbArgs } from './simple-args.js';

export function qalterUsage(): string {
  return [
    'qfarm (SGE-compatible qalter)',
    'usage: qalter [options] job_task_list',
    '   [-help]                                  print this help',
    '   [-hold_jid job_identifier_list]          define jobnet interdependencies',
    '   [-l resource_list]                       replace the resource requests',
    '   [-N name]                                specify job name',
    '   [-p priority]                            define job\'s relative priority (-1023..1024)',
    '   [-pe smp slots]                          request slots on one host',
    '   [-q queue]                               bind job to a group (queue) of hosts',
    '',
  ].join('\n');
}

/** The qsub options qalter can change; the rest of SGE's qalter options are refused. */
const alterable = ['-p', '-N', '-hold_jid', '-q', '-l'];

export async function qalterMain(argv: string[], environment: NodeJS.ProcessEnv = process.env): Promise<number> {
  // -pe takes two words; turn it into one so the generic parser can carry it.
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-pe') {
      if (argv[i + 2] === undefined) throw new CliError('qalter: -pe option must have argument', ExitCode.BadOption, 'write -pe smp N');
      words.push('-pe', `${argv[i + 1]} ${argv[i + 2]}`);
      i += 2;
    } else {
      words.push(argv[i]!);
    }
  }
  const parsed = parseVerbArgs(words, {
    verb: 'qalter',
    usage: qalterUsage,
    withArg: [...alterable, '-pe'],
    unsupported: ['-a', '-A', '-ac', '-c', '-ckpt', '-cwd', '-dc', '-dl', '-e', '-h', '-hold_jid_ad', '-i', '-j', '-js', '-m', '-M', '-notify', '-o', '-P', '-r', '-R', '-S', '-sc', '-t', '-tc', '-u', '-v', '-V', '-w', '-wd', '-binding'],
    badOptionExit: ExitCode.BadOption,
  });
  // Reuse qsub's value checks so both verbs accept and refuse exactly the same values.
  const qsubWords: string[] = [];
  for (const [option, values] of parsed.options) {
    for (const value of values) qsubWords.push(option, ...(option === '-pe' ? value.split(' ') : [value]));
  }
  const source = { label: 'the command line', allowCommand: false, environment, processCwd: process.cwd(), readFile: () => '' };
  const options = parseQsubWords(qsubWords, source, emptyQsubOptions()).options;
  const changes: AlterRequest['changes'] = {};
  if (options.name !== undefined) {
    checkJobName(options.name);
    changes.name = options.name;
  }
  if (options.priority !== undefined) changes.priority = options.priority;
  if (options.queue !== undefined) changes.queue = options.queue;
  if (parsed.options.has('-hold_jid')) changes.holdJobs = options.holdJobs;
  if (parsed.options.has('-l')) changes.resources = resourceRequest(options.resources);
  if (options.slots !== undefined) changes.slots = options.slots;
  const targets = parseJobTargets('qalter', parsed.positional);
  if (targets.length === 0) throw new CliError('qalter: ERROR! no option argument', ExitCode.Failure, 'name the jobs to change: qalter -p 5 8');
  if (Object.keys(changes).length === 0) throw new CliError('qalter: no change requested', ExitCode.Failure, 'give at least one of -p -N -hold_jid -q -l -pe');
  const request: AlterRequest = { targets, changes };
  const answer = await connect(environment).post('/jobs/alter', await checkedRequest('alterRequest', request), 'actionResponse');
  return printActionMessages(answer) ? ExitCode.Ok : ExitCode.Failure;
}
