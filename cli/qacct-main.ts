import { parseTaskRange, rangeHas } from '../protocol/task-ranges.js';
import { BadOptionValueError, CliError, ExitCode } from './cli-errors.js';
import { connect } from './connect.js';
import { formatAccountingRecord } from './format/qacct-job.js';
import { formatOwnerUsage, formatTotalUsage } from './format/qacct-summary.js';
import { out } from './run-command.js';
import { lastValue, parseVerbArgs } from './simple-args.js';

export function qacctUsage(): string {
  return [
    'qfarm (SGE-compatible qacct)',
    'usage: qacct [options]',
    ' [-help]                           display this message',
    ' [-j [job_id|job_name|pattern]]    list all [matching] jobs',
    ' [-o [owner]]                      list [matching] owner',
    ' [-t taskid[-taskid[:step]]]       list only the given tasks (with -j)',
    '',
  ].join('\n');
}

export async function qacctMain(argv: string[], environment: NodeJS.ProcessEnv = process.env): Promise<number> {
  const parsed = parseVerbArgs(argv, {
    verb: 'qacct',
    usage: qacctUsage,
    withArg: ['-t'],
    optionalArg: ['-j', '-o'],
    unsupported: ['-ar', '-A', '-b', '-d', '-D', '-e', '-f', '-g', '-h', '-l', '-P', '-pe', '-q', '-slots'],
    badOptionExit: ExitCode.Failure,
  });
  if (parsed.positional.length > 0) throw new CliError(`qacct: invalid option argument "${parsed.positional[0]}"`, ExitCode.Failure, "to show one job write 'qacct -j ID'");
  const job = lastValue(parsed, '-j');
  const owner = lastValue(parsed, '-o');
  const taskText = lastValue(parsed, '-t');
  const tasks = taskText === undefined ? null : parseTaskRange(taskText);
  if (taskText !== undefined && !tasks) throw new BadOptionValueError('qacct', '-t', taskText, `qacct: invalid option argument "-t ${taskText}"`, 'write -t first-last[:step]');

  const query = new URLSearchParams();
  if (job) query.set('job', job);
  if (owner) query.set('owner', owner);
  const qs = query.toString();
  const answer = await connect(environment).get(`/accounting${qs ? `?${qs}` : ''}`, 'accountingResponse');
  let records = answer.records;
  if (owner) records = records.filter((r) => r.owner === owner);

  if (job !== undefined) {
    if (tasks) records = records.filter((r) => r.taskid !== null && rangeHas(tasks, r.taskid));
    if (records.length === 0) {
      const what = job === '' ? 'jobs' : /^\d+$/.test(job) ? `job id ${job}` : `job name ${job}`;
      throw new CliError(`error: ${what} not found`, ExitCode.Failure);
    }
    out(records.map(formatAccountingRecord).join(''));
    return ExitCode.Ok;
  }
  if (owner !== undefined) {
    out(formatOwnerUsage(records, owner === '' ? undefined : owner));
    return ExitCode.Ok;
  }
  out(formatTotalUsage(records));
  return ExitCode.Ok;
}
