import pino from 'pino';
import { logDestination } from '../logging/pretty-log.js';
import { AGENT_SOCKET_PATH } from '../protocol/version.js';
import { Agent } from './agent.js';
import { loadAgentId } from './agent-id.js';
import { machineIdentityOptions, readMachineIdentity } from './machine-identity.js';
import { agentVersion } from './agent-version.js';
import { readInventory } from './inventory.js';
import { SpotWatch } from './spot-watch.js';
import { HelpRequested } from '../logging/help-requested.js';
import { AgentOptionsError, machineDefaults, parseAgentOptions, usage, type AgentOptions } from './options.js';

/** Exit codes: 0 clean stop, 1 refused by the master or failed to start, 2 bad command line. */
async function main(): Promise<void> {
  let opts: AgentOptions;
  try {
    opts = parseAgentOptions(process.argv.slice(2), process.env, machineDefaults(AGENT_SOCKET_PATH));
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(err.text);
      process.exit(0);
    }
    if (err instanceof AgentOptionsError) {
      process.stderr.write(`qfarm-agent: ${err.message}\n${usage}`);
      process.exit(2);
    }
    throw err;
  }
  // The token is only ever in opts.token and the upgrade header; redact in case it is logged by accident.
  const log = pino(
    { name: 'qfarm-agent', level: opts.logLevel, base: { host: opts.name }, redact: ['token', '*.token', 'headers.authorization', 'headers.Authorization'] },
    logDestination(process.env, process.stderr.isTTY === true, true),
  );

  const machine = await readMachineIdentity(machineIdentityOptions(process.env, opts.spotWatch));
  const [loaded, inventory] = await Promise.all([loadAgentId(opts.stateDir, machine), readInventory()]);
  const agentId = loaded.id;
  if (loaded.replaced) {
    log.warn({ previousAgentId: loaded.replaced, agentId, machineIdentity: machine.source }, 'the state directory held the agent id of another machine (a copied image?): this machine has a new id');
  }
  let agent: Agent | undefined;
  let exiting = false;
  agent = new Agent(opts, {
    log,
    inventory,
    agentId,
    agentVersion: agentVersion(),
    onFatal: (err) => {
      if (exiting) return;
      exiting = true;
      log.fatal({ kind: err.kind }, err.message);
      process.stderr.write(`qfarm-agent: ${err.message}\n`);
      void agent!.killAll(`agent on ${opts.name} stopped: ${err.message}`).finally(() => process.exit(1));
    },
  });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    const reason = `agent on ${opts.name} was shut down`;
    if (signals === 1 && !exiting) {
      exiting = true;
      log.info({ signal, running: agent!.runningCount }, 'draining: no new tasks, waiting for running ones (signal again to force)');
      void agent!.shutdown({ force: false, drainTimeoutMs: opts.drainTimeoutMs, reason }).then(() => {
        log.info('agent stopped');
        process.exit(0);
      });
    } else if (signals === 2) {
      // The drain above is still waiting; killing the tasks lets it finish at once.
      log.warn({ signal, running: agent!.runningCount }, 'second signal: killing running tasks');
      void agent!.killAll(reason);
    }
  };
  // A bug must not leave tasks running unsupervised (the master reruns them elsewhere): kill them, exit.
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'agent bug: uncaught exception; killing running tasks and exiting');
    exiting = true;
    void agent!.killAll('agent failed').finally(() => process.exit(70));
  });
  // Every way out (clean stop, fatal, bug) ends in process.exit: clean up the helper copy there.
  process.on('exit', () => agent!.dispose());
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (opts.exitWithParent) watchParent(() => {
    log.warn({ running: agent!.runningCount }, 'the process that started this agent is gone (its master was killed?): draining and exiting');
    onSignal('SIGTERM');
  });
  await agent.start();
  if (opts.spotWatch) {
    const watch = new SpotWatch();
    watch.on('notice', (notice) => agent!.reclaimNoticed(notice.terminationTime));
    watch.on('error', (err) => log.warn({ err: err.message }, 'spot watch cannot read the instance metadata'));
    watch.start();
  }
}

/** Calls `gone` once when this process is re-parented (its parent died; Linux re-parents to init or a subreaper). */
function watchParent(gone: () => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    gone();
  }, 1000);
  timer.unref();
}

main().catch((err: unknown) => {
  process.stderr.write(`qfarm-agent: cannot start: ${(err as Error).message}\n`);
  process.exit(1);
});
