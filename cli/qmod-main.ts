import os from 'node:os';
import type { HostView } from '../protocol/api.js';
import { checkedRequest } from './precompiled/checked-request.js';
import { printActionMessages } from './action-output.js';
import { ApiRequestError } from './api-client.js';
import { CliError, ExitCode } from './cli-errors.js';
import { connect } from './connect.js';
import { requesterName } from './requester.js';
import { parseJobTargets } from './job-targets.js';
import { out } from './run-command.js';
import { parseVerbArgs } from './simple-args.js';

export function qmodUsage(): string {
  return [
    'qfarm (SGE-compatible qmod)',
    'usage: qmod [options]',
    '   [-c wc_queue_list]      clear error state of hosts (root and managers)',
    '   [-cj job_list]          clear error state of jobs (qfarm: no job has one; prints SGE\'s answer)',
    '   [-d wc_queue_list]      disable',
    '   [-e wc_queue_list]      enable',
    '   [-help]                 print this help',
    '',
    'wc_queue                   group | group@host | *@host | host (qfarm: a host name alone names that host)',
    "wc_queue_list              wc_queue[','wc_queue[','...]]",
    '',
  ].join('\n');
}

/** SGE's `*` and `?` wildcards in queue and host names. */
function glob(pattern: string, value: string): boolean {
  if (pattern === '*' || pattern === value) return true;
  if (!/[*?]/.test(pattern)) return false;
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(value);
}

/**
 * The hosts (queue instances, `group@host` in qfarm) that one `wc_queue` names: `group`,
 * `group@host`, wildcards as in SGE; and, as a qfarm extension, a bare host name.
 */
export function hostsNamed(entry: string, hosts: readonly HostView[]): HostView[] {
  if (entry.includes('@')) {
    const [queue, host] = entry.split('@', 2) as [string, string];
    return hosts.filter((h) => glob(queue || '*', h.group) && glob(host, h.hostname));
  }
  const byGroup = hosts.filter((h) => glob(entry, h.group));
  return byGroup.length > 0 ? byGroup : hosts.filter((h) => glob(entry, h.hostname));
}

type QmodAction = 'disable' | 'enable' | 'clear';

/** What each action sets, and how SGE names the resulting state. */
const ACTIONS: Record<QmodAction, { option: string; state: string; route: string; isAlready: (host: HostView) => boolean }> = {
  clear: { option: '-c', state: 'no error', route: 'clear-error', isAlready: (host) => host.error === undefined },
  disable: { option: '-d', state: 'disabled', route: 'disable', isAlready: (host) => host.state === 'disabled' },
  enable: { option: '-e', state: 'enabled', route: 'enable', isAlready: (host) => host.state !== 'disabled' },
};

/**
 * `qmod -c|-d|-e wc_queue_list`: clear a host's error state `E`, disable or enable hosts (SGE's
 * queue instances). A disabled host finishes what it runs and takes nothing new; `qstat -f`
 * shows it in state `d`. Lines as SGE 8.1.9 prints them (test/fixtures/sge/qmod.txt,
 * host-error.txt), all on stdout; exit 1 if a name matched nothing or the requester may not
 * change the host (root and managers may).
 */
export async function qmodMain(argv: string[], environment: NodeJS.ProcessEnv = process.env): Promise<number> {
  const parsed = parseVerbArgs(argv, {
    verb: 'qmod',
    usage: qmodUsage,
    withArg: ['-c', '-d', '-e', '-cj'],
    flags: ['-f'],
    unsupported: ['-cq', '-r', '-rj', '-rq', '-s', '-sj', '-sq', '-us', '-usj', '-usq'],
    badOptionExit: ExitCode.Failure,
  });
  if (parsed.options.has('-cj')) {
    if (parsed.options.has('-c') || parsed.options.has('-d') || parsed.options.has('-e')) throw new CliError('qmod: -cj cannot be combined with -c, -d or -e in qfarm', ExitCode.Failure, 'run qmod twice');
    return clearJobErrors([...(parsed.options.get('-cj') ?? []), ...parsed.positional], environment);
  }
  const actions: Array<{ action: QmodAction; entry: string }> = [];
  for (const action of ['clear', 'disable', 'enable'] as const) {
    for (const value of parsed.options.get(ACTIONS[action].option) ?? []) {
      for (const entry of value.split(',')) if (entry !== '') actions.push({ action, entry });
    }
  }
  // SGE also takes blank-separated lists: further words belong to the last -c/-d/-e.
  const last = actions[actions.length - 1];
  if (last) for (const word of parsed.positional) for (const entry of word.split(',')) if (entry !== '') actions.push({ action: last.action, entry });
  if (actions.length === 0) throw new CliError('qmod: ERROR! no option argument', ExitCode.Failure, 'write qmod -d HOST (or group@host) to disable, qmod -e ... to enable, qmod -c ... to clear an error state');
  const client = connect(environment);
  const { hosts } = await client.get('/hosts', 'hostsResponse');
  const requester = requesterName();
  const who = `${requester}@${os.hostname().split('.')[0]}`;
  let ok = true;
  for (const { action, entry } of actions) {
    const { state, route, isAlready } = ACTIONS[action];
    const named = hostsNamed(entry, hosts);
    if (named.length === 0) {
      out(`invalid queue "${entry}"`);
      ok = false;
      continue;
    }
    for (const host of named) {
      const instance = `${host.group}@${host.hostname}`;
      if (isAlready(host)) {
        out(`Queue instance "${instance}" is already in the specified state: ${state}`);
        continue;
      }
      try {
        await client.post(`/hosts/${encodeURIComponent(host.hostname)}/${route}`, {}, 'actionResponse');
        out(`${who} changed state of "${instance}" (${state})`);
      } catch (error) {
        if (!(error instanceof ApiRequestError) || (error.status !== 404 && error.status !== 403)) throw error;
        out(error.status === 403 ? `${requester} - you have no permission to modify queue "${instance}"` : `invalid queue "${instance}"`);
        ok = false;
      }
    }
  }
  return ok ? ExitCode.Ok : ExitCode.Failure;
}

/**
 * `qmod -cj job_list`: owners (and root, managers) get SGE 8.1.9's answer for a job not in
 * error state; another user's job SGE's refusal. Exit 1 when any line is a failure, as SGE.
 */
async function clearJobErrors(words: string[], environment: NodeJS.ProcessEnv): Promise<number> {
  const targets = parseJobTargets('qmod', words.flatMap((w) => w.split(',')).filter((w) => w !== ''));
  if (targets.length === 0) throw new CliError('qmod: ERROR! no option argument', ExitCode.Failure, 'name the jobs: qmod -cj 8');
  const answer = await connect(environment).post('/jobs/clear-error', await checkedRequest('holdRequest', { targets }), 'actionResponse');
  return printActionMessages(answer) ? ExitCode.Ok : ExitCode.Failure;
}
