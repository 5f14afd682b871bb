import type { DeleteRequest } from '../protocol/api.js';
import { checkedRequest } from './precompiled/checked-request.js';
import { printActionMessages } from './action-output.js';
import { CliError, ExitCode } from './cli-errors.js';
import { connect } from './connect.js';
import { parseJobTargets } from './job-targets.js';
import { lastValue, parseVerbArgs } from './simple-args.js';

export function qdelUsage(): string {
  return [
    'qfarm (SGE-compatible qdel)',
    'usage: qdel [options] job_task_list',
    '   [-f]                                     force action',
    '   [-help]                                  print this help',
    '   [-t task_id_range]                       delete these tasks of the listed jobs',
    '   [-u user_list]                           delete all jobs of users specified in list',
    '   job_task_list                            delete all jobs given in list',
    '',
    'job_task_list           job_tasks[,job_tasks,...]',
    'job_tasks               job_id[.task_id_range] | job_name',
    '',
  ].join('\n');
}

export async function qdelMain(argv: string[], environment: NodeJS.ProcessEnv = process.env): Promise<number> {
  const parsed = parseVerbArgs(argv, {
    verb: 'qdel',
    usage: qdelUsage,
    flags: ['-f'],
    withArg: ['-u', '-t'],
    badOptionExit: ExitCode.Failure,
  });
  const targets = parseJobTargets('qdel', parsed.positional, lastValue(parsed, '-t'));
  const users = (parsed.options.get('-u') ?? []).flatMap((v) => v.split(',')).filter((v) => v !== '');
  if (targets.length === 0 && users.length === 0) {
    throw new CliError('qdel: ERROR! no option argument', ExitCode.Failure, 'name the jobs to delete (qdel 8, qdel 9.2, qdel 1,2,3) or a user (qdel -u alice)');
  }
  const request: DeleteRequest = { targets, users, force: parsed.options.has('-f') };
  const answer = await connect(environment).post('/jobs/delete', await checkedRequest('deleteRequest', request), 'actionResponse');
  return printActionMessages(answer) ? ExitCode.Ok : ExitCode.Failure;
}
