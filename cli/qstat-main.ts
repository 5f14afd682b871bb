import type { JobDetail, QstatRow, QstatState } from '../protocol/api.js';
import { ApiRequestError, type ApiClient } from './api-client.js';
import { BadOptionValueError, ExitCode, UnsupportedOptionError } from './cli-errors.js';
import { connect } from './connect.js';
import { formatMissingJobs, formatJobDetail } from './format/qstat-job.js';
import { formatQstatFull } from './format/qstat-full.js';
import { formatQstat } from './format/qstat-table.js';
import { formatQstatXml } from './format/qstat-xml.js';
import { formatQstatExt } from './format/qstat-ext.js';
import { formatRequests } from './format/qstat-requests.js';
import type { TaskUsage } from '../protocol/agent-messages.js';
import { err, out } from './run-command.js';
import { parseVerbArgs } from './simple-args.js';

export function qstatUsage(): string {
  return [
    'qfarm (SGE-compatible qstat)',
    'usage: qstat [options]',
    '        [-ext]                            view additional attributes',
    '        [-f]                              full output',
    '        [-help]                           print this help',
    '        [-j job_identifier_list ]         show scheduler job information',
    '        [-r]                              show requested resources of job(s)',
    '        [-q queue_list]                   print only running jobs of these queues (groups), and pending jobs',
    '        [-s {p|r|s|z|h}]                  show pending, running, suspended, zombie (finished) or held jobs',
    '        [-xml]                            display the information in XML format (not with -f or -j yet)',
    '        [-u user_list]                    view only jobs of this user(s); "*" for all (the default)',
    '',
  ].join('\n');
}

/** Which rows each letter of `-s` selects. */
const stateLetters: Record<string, readonly QstatState[]> = {
  p: ['qw', 'hqw', 'Eqw'],
  r: ['r', 't', 'Rr', 'dr', 'dt'],
  s: [],
  h: ['hqw'],
  z: ['z'],
  a: ['qw', 'hqw', 'Eqw', 'r', 't', 'Rr', 'dr', 'dt'],
};

export function statesFor(letters: string): Set<QstatState> {
  const states = new Set<QstatState>();
  for (const letter of letters) {
    const selected = stateLetters[letter];
    if (!selected) {
      // SGE's qstat exits 1 for any bad argument (it prints its usage).
      const error = new BadOptionValueError('qstat', '-s', letters, `qstat: invalid option argument "-s ${letters}"`, 'use -s with any of p (pending), r (running), h (held), z (finished), s (suspended)');
      throw Object.assign(error, { exitCode: ExitCode.Failure });
    }
    for (const s of selected) states.add(s);
  }
  return states;
}

async function jobDetails(client: ApiClient, ids: string[]): Promise<{ jobs: JobDetail[]; missing: string[] }> {
  const jobs: JobDetail[] = [];
  const missing: string[] = [];
  for (const id of ids) {
    try {
      const answer = await client.get(`/jobs/${encodeURIComponent(id)}`, 'jobDetailResponse');
      jobs.push(...answer.jobs);
      missing.push(...answer.missing);
    } catch (error) {
      if (error instanceof ApiRequestError && error.status === 404) missing.push(id);
      else throw error;
    }
  }
  return { jobs, missing };
}

export async function qstatMain(argv: string[], environment: NodeJS.ProcessEnv = process.env): Promise<number> {
  const parsed = parseVerbArgs(argv, {
    verb: 'qstat',
    usage: qstatUsage,
    flags: ['-f', '-xml', '-r', '-ext'],
    withArg: ['-u', '-s', '-j', '-q'],
    optionalArg: [],
    unsupported: ['-g', '-t', '-F', '-explain', '-l', '-ne', '-pe', '-pri', '-urg', '-U', '-qs', '-sc'],
    badOptionExit: ExitCode.Failure,
  });
  if (parsed.positional.length > 0) {
    throw new BadOptionValueError('qstat', parsed.positional[0]!, parsed.positional[0]!, `qstat: invalid option argument "${parsed.positional[0]}"`, "to show one job write 'qstat -j ID'");
  }
  const client = connect(environment);

  const jobIds = parsed.options.get('-j');
  if (jobIds && parsed.options.has('-xml')) throw new UnsupportedOptionError('qstat', '-j ... -xml');
  if (jobIds) {
    const ids = jobIds.flatMap((v) => v.split(',')).filter((v) => v !== '');
    const details = await jobDetails(client, ids);
    // SGE forgets a job for qstat once it has finished ("Following jobs do not exist"), and
    // workflow engines' status scripts rely on that (`qstat -j ID || qacct -j ID`): a job that
    // has no line in qstat any more counts as missing here, whatever the master returned. The
    // master says so per job; an older one did not, and the whole queue is asked instead.
    const listed = details.jobs.every((job) => job.listed !== undefined)
      ? new Set(details.jobs.filter((job) => job.listed).map((job) => job.jobId))
      : new Set((await client.get('/jobs', 'qstatResponse')).rows.filter((row) => row.state !== 'z').map((row) => row.jobId));
    const jobs = details.jobs.filter((job) => listed.has(job.jobId));
    const missing = [...details.missing, ...details.jobs.filter((job) => !listed.has(job.jobId)).map((job) => String(job.jobId))];
    out(jobs.map(formatJobDetail).join(''));
    if (missing.length > 0) {
      err(formatMissingJobs(missing));
      return ExitCode.Failure;
    }
    return ExitCode.Ok;
  }

  const users = (parsed.options.get('-u') ?? []).flatMap((v) => v.split(',')).filter((v) => v !== '');
  const allUsers = users.length === 0 || users.includes('*');
  const letters = (parsed.options.get('-s') ?? []).join('');
  const wanted = letters === '' ? statesFor('a') : statesFor(letters);
  const query = new URLSearchParams();
  if (!allUsers) query.set('user', users.join(','));
  if (wanted.has('z')) query.set('finished', '1');
  const qs = query.toString();
  const answer = await client.get(`/jobs${qs ? `?${qs}` : ''}`, 'qstatResponse');
  // -q: running tasks in these queues (groups, or group@host instances); pending jobs stay listed,
  // so a poller such as Nextflow's never mistakes a queued job for a finished one.
  const queues = (parsed.options.get('-q') ?? []).flatMap((v) => v.split(',')).filter((v) => v !== '');
  const inQueues = (queue: string): boolean => queues.length === 0 || queue === '' || queues.some((q) => queue === q || queue.startsWith(`${q}@`));
  const rows: QstatRow[] = answer.rows.filter((row) => wanted.has(row.state) && (allUsers || users.includes(row.owner)) && inQueues(row.queue));

  if (parsed.options.has('-xml')) {
    if (parsed.options.has('-f')) throw new UnsupportedOptionError('qstat', '-f -xml');
    out(formatQstatXml(rows));
  } else if (parsed.options.has('-f')) {
    const hosts = await client.get('/hosts', 'hostsResponse');
    out(formatQstatFull(hosts.hosts, rows));
  } else if (parsed.options.has('-r') || parsed.options.has('-ext')) {
    // Both need what the rows do not carry: requests and usage, from each job's detail.
    const ids = [...new Set(rows.map((row) => String(row.jobId)))];
    const details = new Map((await jobDetails(client, ids)).jobs.map((job) => [job.jobId, job]));
    const usageOf = (row: QstatRow): TaskUsage | null => {
      const taskId = row.tasks === '' ? null : Number(row.tasks);
      return details.get(row.jobId)?.tasks.find((task) => task.taskId === taskId && task.host === row.queue)?.usage ?? null;
    };
    const table = parsed.options.has('-ext') ? formatQstatExt(rows, usageOf) : formatQstat(rows);
    if (!parsed.options.has('-r')) out(table);
    else {
      // Each job line is followed by its block of requests.
      const lines = table.split('\n');
      let text = `${lines[0]}\n${lines[1]}\n`;
      rows.forEach((row, i) => (text += `${lines[i + 2]}\n${formatRequests(row, details.get(row.jobId))}`));
      out(rows.length === 0 ? '' : text);
    }
  } else {
    out(formatQstat(rows));
  }
  return ExitCode.Ok;
}
