import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ownFarmHome } from '../master-location.js';
import { CliError } from '../cli-errors.js';
import { AGENT_ENTRY, MASTER_ENTRY } from './dist-paths.js';
import { Supervisor } from './agent-supervisor.js';

export interface FarmUpOptions {
  agents: number;
  slots?: number;
  listen: string;
  /** Serve https/wss (the master is also TLS by itself when `listen` is not loopback). */
  tls?: boolean;
  /** Called once the master and every agent are up. */
  onReady?: (url: string, tlsFingerprint?: string) => void;
  /** Where the daemons' logs go; default: QFARM_HOME/logs/{master,agent-N}.log. */
  inheritLogs: boolean;
}

/**
 * `qfarm up`: the embedded farm in the foreground — a master and N local agents as child
 * processes sharing QFARM_HOME. An agent that dies is restarted with backoff (Supervisor).
 *
 * Stopping never fails work. The daemons run in their own process groups, so the terminal's
 * Ctrl-C (sent to its whole foreground group) reaches only this process, which stops the agents
 * first and the master last, while it still takes their results:
 * first Ctrl-C: the agents drain (running tasks may finish within the agents' drain timeout;
 * the rest are killed and requeued); second: the agents kill their tasks now, which are
 * requeued; third: every daemon is killed (the master requeues their tasks at its next start).
 */
export async function farmUp(options: FarmUpOptions): Promise<number> {
  const home = ownFarmHome();
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const infoFile = path.join(home, 'master.json');
  const masterLog = path.join(home, 'master.log');
  const agents: Supervisor[] = [];
  const logFile = (name: string): number | 'inherit' =>
    options.inheritLogs ? 'inherit' : fs.openSync(path.join(home, `${name}.log`), 'a', 0o600);
  const masterLogStart = fileSize(masterLog);

  const master = spawn(process.execPath, [MASTER_ENTRY, '--listen', options.listen, ...(options.tls ? ['--tls'] : [])], {
    stdio: ['ignore', logFile('master'), logFile('master')],
    env: { ...process.env, QFARM_HOME: home },
    detached: true,
  });
  let signals = 0;
  // Agents are stopped with their master (and not restarted), so nothing outlives `qfarm up`.
  const exited = new Promise<number>((resolve) =>
    master.on('exit', (code) => {
      if (signals === 0) process.stderr.write(`qfarm up: the master exited (code ${code}); stopping the agents; see ${masterLog}\n`);
      void Promise.all(agents.map((a) => a.stop('SIGTERM'))).then(() => resolve(code ?? 1));
    }),
  );

  const onSignal = (): void => {
    signals++;
    if (signals === 1) {
      process.stderr.write('qfarm up: stopping: the agents take no new tasks and let running ones finish (those that do not are requeued), then the master stops; Ctrl-C again to requeue running tasks now\n');
      void Promise.all(agents.map((a) => a.stop('SIGTERM'))).then(() => master.kill('SIGTERM'));
    } else if (signals === 2) {
      process.stderr.write('qfarm up: killing running tasks; they are requeued; Ctrl-C again to kill the daemons\n');
      for (const agent of agents) agent.signal('SIGTERM');
    } else {
      for (const agent of agents) agent.kill();
      master.kill('SIGKILL');
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const { url, tlsFingerprint } = await waitForMasterInfo(infoFile, master, exited, () => readFrom(masterLog, masterLogStart));
  const agentToken = fs.readFileSync(path.join(home, 'agent-token'), 'utf8').trim();
  const base = os.hostname();
  const slots = options.slots ?? localSlotsPerAgent(options.agents);
  for (let i = 1; i <= options.agents; i++) {
    const name = options.agents === 1 ? base : `${base}-${i}`;
    const args = [AGENT_ENTRY, '--master', url, '--name', name, '--state-dir', path.join(home, 'agents', name), '--slots', String(slots)];
    if (tlsFingerprint) args.push('--tls-fingerprint', tlsFingerprint);
    const agent = new Supervisor({
      name: `agent ${name}`,
      command: process.execPath,
      args,
      spawnOptions: {
        stdio: ['ignore', logFile(`agent-${name}`), logFile(`agent-${name}`)],
        // The token goes by environment, not argv: argv is visible to every user in `ps`.
        env: { ...process.env, QFARM_HOME: home, QFARM_AGENT_TOKEN: agentToken },
        detached: true,
      },
      logHint: options.inheritLogs ? 'the output above' : path.join(home, `agent-${name}.log`),
      say: (line) => process.stderr.write(`${line}\n`),
    });
    agents.push(agent);
    agent.start();
  }
  options.onReady?.(url, tlsFingerprint);
  return exited;
}

/**
 * The machine's CPUs shared over the local agents (at least one slot each): N agents each
 * offering every CPU would run N times as many tasks as there are CPUs.
 */
export function localSlotsPerAgent(agents: number, cpus = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cpus / Math.max(1, agents)));
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** What the master wrote to its log since `offset` (its reason when it exits at start). */
function readFrom(file: string, offset: number): string {
  try {
    return fs.readFileSync(file).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

/** Waits until the master we started has published its URL (its pid in master.json). */
async function waitForMasterInfo(
  file: string,
  master: ChildProcess,
  exited: Promise<number>,
  masterOutput: () => string,
): Promise<{ url: string; tlsFingerprint?: string }> {
  const deadline = Date.now() + 30_000;
  const logFile = path.join(path.dirname(file), 'master.log');
  let masterExit: number | undefined;
  void exited.then((code) => (masterExit = code));
  for (;;) {
    if (masterExit !== undefined) {
      // The master says why on its last line (`qfarm master: a master is already running at ...`).
      const why = masterOutput().trim().split('\n').filter((l) => l.startsWith('qfarm master: ')).pop();
      if (why) throw new CliError(`qfarm up: ${why.slice('qfarm master: '.length)}`, 1);
      throw new CliError(`qfarm up: the master exited with code ${masterExit} before it was ready`, 1, `see ${logFile}`);
    }
    try {
      const info = JSON.parse(fs.readFileSync(file, 'utf8')) as { url: string; pid: number; tlsFingerprint?: string };
      if (info.pid === master.pid) return info;
    } catch {
      // Not written yet.
    }
    if (Date.now() > deadline) throw new CliError('qfarm up: the master did not start within 30 s', 1, `see ${logFile}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs a daemon's entry point in this very process (no wrapper): the pid the user or a
 * supervisor holds is the daemon, so `kill -9` of it stops the daemon and master.json names it.
 * The entry reads its options from process.argv, as when started as `node ENTRY ARGS`.
 */
export async function runDaemonInProcess(entry: string, args: string[]): Promise<void> {
  process.argv = [process.argv[0]!, entry, ...args];
  await import(pathToFileURL(entry).href);
}
