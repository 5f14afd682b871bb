import { ExitCode } from './cli-errors.js';
import { connect } from './connect.js';
import { formatQhost } from './format/qhost-table.js';
import { out } from './run-command.js';
import { parseVerbArgs } from './simple-args.js';

export function qhostUsage(): string {
  return [
    'qfarm (SGE-compatible qhost)',
    'usage: qhost [options]',
    '  [-h hostlist]              display only selected hosts',
    '  [-q]                       display queues hosted by host',
    '  [-help]                    print this help',
    '',
  ].join('\n');
}

export async function qhostMain(argv: string[], environment: NodeJS.ProcessEnv = process.env): Promise<number> {
  const parsed = parseVerbArgs(argv, {
    verb: 'qhost',
    usage: qhostUsage,
    withArg: ['-h'],
    flags: ['-q'],
    unsupported: ['-F', '-j', '-l', '-ncb', '-u', '-xml'],
    badOptionExit: ExitCode.Failure,
  });
  const wanted = (parsed.options.get('-h') ?? []).flatMap((v) => v.split(',')).filter((v) => v !== '');
  const answer = await connect(environment).get('/hosts', 'hostsResponse');
  const hosts = wanted.length === 0 ? answer.hosts : answer.hosts.filter((h) => wanted.includes(h.hostname));
  out(formatQhost(hosts, { queues: parsed.options.has('-q') }));
  return ExitCode.Ok;
}
