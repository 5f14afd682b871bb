#!/usr/bin/env node
import { Command } from 'commander';
import { wholeNumber } from './option-numbers.js';
import { validators } from '../protocol/api.js';
import { ApiClient } from './api-client.js';
import { locateMaster } from './master-location.js';
import { reportError } from './run-command.js';
import { AGENT_ENTRY, MASTER_ENTRY } from './admin/dist-paths.js';
import { farmUp, runDaemonInProcess } from './admin/farm-up.js';
import { printLogs } from './admin/follow-logs.js';
import { getOutputs } from './admin/get-outputs.js';
import { registerRenderCommands } from './render/register.js';
import { registerGroupCommands } from './admin/group-commands.js';
import { registerIdentityCommands } from './admin/identity-commands.js';
import { registerWebCommand } from './admin/web-command.js';
import { registerNodeCommands } from './interactive/node-commands.js';
import { registerHostListCommands } from './admin/host-commands.js';

/** `qfarm`: the administrator's verbs (SGE's own verbs are separate commands: qsub, qstat...). */

async function setHost(name: string, action: 'enable' | 'disable'): Promise<void> {
  const client = new ApiClient(locateMaster());
  const res = await client.post(`/hosts/${encodeURIComponent(name)}/${action}`, {}, validators.actionResponse);
  for (const m of res.messages) process.stdout.write(m.text + '\n');
}

export function buildProgram(): Command {
  const program = new Command('qfarm')
    .description('qfarm administration: run the farm, read task logs, manage hosts.\nSubmit and watch work with SGE\'s verbs: qsub, qstat, qhost, qdel, qacct, qalter, qhold, qrls.')
    .showHelpAfterError('(run qfarm --help for usage)')
    .exitOverride();

  program
    .command('up')
    .description('run a master and local agents on this machine in the foreground (Ctrl-C stops all)')
    .option('--agents <n>', 'number of local agents', wholeNumber('--agents', 1), 2)
    .option('--slots <n>', 'slots per agent (default: the CPUs shared over the agents, at least 1)', wholeNumber('--slots', 1))
    .option('--listen <host:port>', 'master address', '127.0.0.1:6480')
    .option('--tls', 'serve https/wss with a pinned certificate (automatic when --listen is not loopback)', false)
    .option('--log-to-terminal', 'print the daemons\' logs here instead of QFARM_HOME/*.log', false)
    .action(async (opts: { agents: number; slots?: number; listen: string; tls: boolean; logToTerminal: boolean }) => {
      const code = await farmUp({
        agents: opts.agents,
        slots: opts.slots,
        listen: opts.listen,
        tls: opts.tls,
        inheritLogs: opts.logToTerminal,
        onReady: (url, tlsFingerprint) =>
          process.stderr.write(
            `qfarm up: master at ${url} with ${opts.agents} local agent(s); Ctrl-C stops them\n` +
              `qfarm up: web dashboard at ${url}/ (sign in with the link qfarm web prints)\n` +
              (tlsFingerprint ? `qfarm up: TLS certificate fingerprint ${tlsFingerprint} (remote agents: --tls-fingerprint; remote CLIs: QFARM_TLS_FINGERPRINT)\n` : ''),
          ),
      });
      process.exitCode = code;
    });

  program
    .command('master')
    .description('run the master daemon alone (see qfarm master --help)')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[args...]')
    .action(async (args: string[]) => {
      await runDaemonInProcess(MASTER_ENTRY, args);
    });

  program
    .command('agent')
    .description('run an agent that joins a master: qfarm agent --master URL --token T (see qfarm agent --help)')
    .allowUnknownOption()
    .helpOption(false)
    .argument('[args...]')
    .action(async (args: string[]) => {
      await runDaemonInProcess(AGENT_ENTRY, args);
    });

  program
    .command('logs')
    .description("print a task's output (JOB or JOB.TASK); -f follows it while it runs")
    .argument('<task>', 'JOB or JOB.TASK')
    .option('-f, --follow', 'keep streaming until the task ends', false)
    .option('--stderr', 'show stderr instead of stdout', false)
    .action(async (ref: string, opts: { follow: boolean; stderr: boolean }) => {
      await printLogs(ref, opts);
    });

  program
    .command('get')
    .description("download a job's outputs (what its tasks wrote to $OUTDIR, from its -outdir location) into DIR")
    .argument('<job>', 'job id')
    .argument('<dir>', 'local directory (created if missing)')
    .action(async (job: string, dir: string) => {
      await getOutputs(job, dir, (line) => process.stdout.write(line + '\n'));
    });

  const host = program.command('host').description('manage execution hosts');
  host
    .command('disable')
    .description('stop scheduling new tasks on a host (running ones finish), like qmod -d')
    .argument('<name>')
    .action((name: string) => setHost(name, 'disable'));
  host
    .command('enable')
    .description('allow scheduling on a host again, like qmod -e')
    .argument('<name>')
    .action((name: string) => setHost(name, 'enable'));

  registerHostListCommands(host);
  registerRenderCommands(program);
  registerGroupCommands(program);
  registerIdentityCommands(program);
  registerWebCommand(program);
  registerNodeCommands(program);
  return program;
}

// `qfarm render submit -d | head`: a reader that stops early is not an error (as for cat).
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

buildProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      process.exitCode = (error as { exitCode?: number }).exitCode ?? 2;
      return;
    }
    process.exitCode = reportError('qfarm', error);
  });
