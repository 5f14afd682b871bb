import type { HoldRequest } from '../protocol/api.js';
import { checkedRequest } from './precompiled/checked-request.js';
import { printActionMessages } from './action-output.js';
import { BadOptionValueError, CliError, ExitCode, UnsupportedOptionError } from './cli-errors.js';
import { connect } from './connect.js';
import { parseJobTargets } from './job-targets.js';
import { parseVerbArgs } from './simple-args.js';

export type HoldVerb = 'qhold' | 'qrls';

export function holdUsage(verb: HoldVerb): string {
  return [
    `qfarm (SGE-compatible ${verb})`,
    `usage: ${verb} [options] job_task_list`,
    '   [-h u]                                   hold type: user hold (the only one qfarm has)',
    '   [-help]                                  print this help',
    '   job_task_list                            jobids (and taskids) of jobs to be altered',
    '',
  ].join('\n');
}

/** qhold / qrls: put on or take off the user hold. SGE exits 3 when a job does not exist. */
export async function holdMain(verb: HoldVerb, argv: string[], environment: NodeJS.ProcessEnv = process.env): Promise<number> {
  const parsed = parseVerbArgs(argv, { verb, usage: () => holdUsage(verb), withArg: ['-h'], unsupported: ['-u'], badOptionExit: ExitCode.Failure });
  for (const type of parsed.options.get('-h') ?? []) {
    if (type === 'o' || type === 's') throw new UnsupportedOptionError(verb, `-h ${type}`);
    if (type !== 'u') throw new BadOptionValueError(verb, '-h', type, `${verb}: invalid option argument "-h ${type}"`, 'use -h u');
  }
  const targets = parseJobTargets(verb, parsed.positional);
  if (targets.length === 0) throw new CliError(`${verb}: ERROR! no option argument`, ExitCode.Failure, `name the jobs: ${verb} 8 or ${verb} 9.2`);
  const request: HoldRequest = { targets };
  const route = verb === 'qhold' ? '/jobs/hold' : '/jobs/release';
  const answer = await connect(environment).post(route, await checkedRequest('holdRequest', request), 'actionResponse');
  if (printActionMessages(answer)) return ExitCode.Ok;
  // SGE 8.1.9 exits 18 when a job is another user's, 3 when it does not exist (fixtures/sge).
  return answer.messages.some((m) => m.denied === 'permission') ? ExitCode.NotOwner : ExitCode.HoldDenied;
}
