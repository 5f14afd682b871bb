import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
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
 * The first Ctrl-C (or SIGTERM) stops the agents, then the master, each gracefully; a second
 * one kills them.
 */
export async function farmUp(options: FarmUpOptions): Promise<number> {
  const home = ownFarmHome();
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const infoFile = path.join(home, 'master.json');
  const agents: Supervisor[] = [];
  const logFile = (name: string): number | 'inherit' =>
    options.inheritLogs ? 'inherit' : fs.openSync(path.join(home, `${name}.log`), 'a', 0o600);

  const master = spawn(process.execPath, [MASTER_ENTRY, '--listen', options.listen, ...(options.tls ? ['--tls'] : [])], {
    stdio: ['ignore', logFile('master'), logFile('master')],
    env: { ...process.env, QFARM_HOME: home },
  });
  let stopping = false;
  // Agents are stopped with their master (and not restarted), so nothing outlives `qfarm up`.
  const exited = new Promise<number>((resolve) =>
    master.on('exit', (code) => {
      if (!stopping) process.stderr.write(`qfarm up: the master exited (code ${code}); stopping the agents; see ${path.join(home, 'master.log')}\n`);
      void Promise.all(agents.map((a) => a.stop('SIGTERM'))).then(() => resolve(code ?? 1));
    }),
  );

  const stopAll = (signal: NodeJS.Signals): void => {
    if (stopping) {
      for (const agent of agents) agent.kill();
      master.kill('SIGKILL');
      return;
    }
    stopping = true;
    process.stderr.write('qfarm up: stopping agents and master (Ctrl-C again to kill them)\n');
    void Promise.all(agents.map((a) => a.stop(signal))).then(() => master.kill('SIGTERM'));
  };
  process.on('SIGINT', () => stopAll('SIGTERM'));
  process.on('SIGTERM', () => stopAll('SIGTERM'));

  const { url, tlsFingerprint } = await waitForMasterInfo(infoFile, master, exited);
  const agentToken = fs.readFileSync(path.join(home, 'agent-token'), 'utf8').trim();
  const base = os.hostname();
  for (let i = 1; i <= options.agents; i++) {
    const name = options.agents === 1 ? base : `${base}-${i}`;
    const args = [AGENT_ENTRY, '--master', url, '--name', name, '--state-dir', path.join(home, 'agents', name)];
    if (options.slots) args.push('--slots', String(options.slots));
    if (tlsFingerprint) args.push('--tls-fingerprint', tlsFingerprint);
    const agent = new Supervisor({
      name: `agent ${name}`,
      command: process.execPath,
      args,
      spawnOptions: {
        stdio: ['ignore', logFile(`agent-${name}`), logFile(`agent-${name}`)],
        // The token goes by environment, not argv: argv is visible to every user in `ps`.
        env: { ...process.env, QFARM_HOME: home, QFARM_AGENT_TOKEN: agentToken },
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

/** Waits until the master we started has published its URL (its pid in master.json). */
async function waitForMasterInfo(file: string, master: ChildProcess, exited: Promise<number>): Promise<{ url: string; tlsFingerprint?: string }> {
  const deadline = Date.now() + 30_000;
  let masterExit: number | undefined;
  void exited.then((code) => (masterExit = code));
  for (;;) {
    if (masterExit !== undefined) {
      throw new CliError(`qfarm up: the master exited with code ${masterExit} before it was ready`, 1, `see ${path.join(path.dirname(file), 'master.log')}`);
    }
    try {
      const info = JSON.parse(fs.readFileSync(file, 'utf8')) as { url: string; pid: number; tlsFingerprint?: string };
      if (info.pid === master.pid) return info;
    } catch {
      // Not written yet.
    }
    if (Date.now() > deadline) throw new CliError('qfarm up: the master did not start within 30 s', 1, `see ${path.join(path.dirname(file), 'master.log')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs a daemon entry point in the foreground, forwarding signals, and returns its exit code. */
export function runDaemon(entry: string, args: string[]): Promise<number> {
  const child = spawn(process.execPath, [entry, ...args], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1))));
}
