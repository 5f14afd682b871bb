import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ownFarmHome } from '../master-location.js';
import { CliError } from '../cli-errors.js';
import { AGENT_ENTRY, MASTER_ENTRY } from './dist-paths.js';

export interface FarmUpOptions {
  agents: number;
  slots?: number;
  listen: string;
  /** Called once the master and every agent are up. */
  onReady?: (url: string) => void;
  /** Where the daemons' logs go; default: QFARM_HOME/logs/{master,agent-N}.log. */
  inheritLogs: boolean;
}

/**
 * `qfarm up`: the embedded farm in the foreground — a master and N local agents as child
 * processes sharing QFARM_HOME. The first Ctrl-C (or SIGTERM) stops the agents, then the
 * master, each gracefully; a second one kills them.
 */
export async function farmUp(options: FarmUpOptions): Promise<number> {
  const home = ownFarmHome();
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const infoFile = path.join(home, 'master.json');
  const children: ChildProcess[] = [];
  const logFile = (name: string): number | 'inherit' =>
    options.inheritLogs ? 'inherit' : fs.openSync(path.join(home, `${name}.log`), 'a', 0o600);

  const master = spawn(process.execPath, [MASTER_ENTRY, '--listen', options.listen], {
    stdio: ['ignore', logFile('master'), logFile('master')],
    env: { ...process.env, QFARM_HOME: home },
  });
  children.push(master);
  let stopping = false;
  const exited = new Promise<number>((resolve) => master.on('exit', (code) => resolve(code ?? 1)));

  const stopAll = (signal: NodeJS.Signals): void => {
    if (stopping) {
      for (const child of children) child.kill('SIGKILL');
      return;
    }
    stopping = true;
    process.stderr.write('qfarm up: stopping agents and master (Ctrl-C again to kill them)\n');
    const agents = children.slice(1);
    Promise.all(agents.map((a) => new Promise((r) => (a.exitCode !== null ? r(null) : (a.once('exit', r), a.kill(signal)))))).then(() =>
      master.kill('SIGTERM'),
    );
  };
  process.on('SIGINT', () => stopAll('SIGTERM'));
  process.on('SIGTERM', () => stopAll('SIGTERM'));

  const url = await waitForMasterInfo(infoFile, master, exited);
  const agentToken = fs.readFileSync(path.join(home, 'agent-token'), 'utf8').trim();
  const base = os.hostname();
  for (let i = 1; i <= options.agents; i++) {
    const name = options.agents === 1 ? base : `${base}-${i}`;
    const args = [AGENT_ENTRY, '--master', url, '--name', name, '--state-dir', path.join(home, 'agents', name)];
    if (options.slots) args.push('--slots', String(options.slots));
    const agent = spawn(process.execPath, args, {
      stdio: ['ignore', logFile(`agent-${name}`), logFile(`agent-${name}`)],
      // The token goes by environment, not argv: argv is visible to every user in `ps`.
      env: { ...process.env, QFARM_HOME: home, QFARM_AGENT_TOKEN: agentToken },
    });
    children.push(agent);
    agent.on('exit', (code, signal) => {
      if (!stopping) process.stderr.write(`qfarm up: agent ${name} exited (${signal ?? `code ${code}`}); see ${path.join(home, `agent-${name}.log`)}\n`);
    });
  }
  options.onReady?.(url);
  return exited;
}

/** Waits until the master we started has published its URL (its pid in master.json). */
async function waitForMasterInfo(file: string, master: ChildProcess, exited: Promise<number>): Promise<string> {
  const deadline = Date.now() + 30_000;
  let masterExit: number | undefined;
  void exited.then((code) => (masterExit = code));
  for (;;) {
    if (masterExit !== undefined) {
      throw new CliError(`qfarm up: the master exited with code ${masterExit} before it was ready`, 1, `see ${path.join(path.dirname(file), 'master.log')}`);
    }
    try {
      const info = JSON.parse(fs.readFileSync(file, 'utf8')) as { url: string; pid: number };
      if (info.pid === master.pid) return info.url;
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
