import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GroupSpec } from '../../protocol/groups.js';
import { ProviderConfigError } from './errors.js';
import { silentLogger, type Instance, type Provider, type ProviderLogger } from './provider.js';

/**
 * Worker "machines" as agent processes on this host: the embedded default (`qfarm up`). Same
 * interface and the same autoscaler as the cloud: launch spawns agents, terminate stops them
 * (SIGTERM, then SIGKILL after a grace period), list returns the live children.
 */

export interface LocalProviderOptions {
  masterUrl: string;
  agentToken: string;
  /** The master's certificate fingerprint when it serves https: agents pin it. */
  tlsFingerprint?: string;
  /** @default <repo>/dist/agent/main.js */
  agentMain?: string;
  /** @default process.execPath */
  nodePath?: string;
  /** Agents' state directories and logs go under here (QFARM_HOME/local-agents). */
  stateRoot: string;
  /** SIGTERM → SIGKILL. @default 10000 */
  killGraceMs?: number;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  logger?: ProviderLogger;
}

/** Label the agent reports so the master can pair it with its machine (all providers use it). */
export const INSTANCE_ID_LABEL = 'qfarm.instance-id';

interface Child {
  instance: Instance;
  process: ChildProcess;
  exited: Promise<void>;
}

export class LocalProvider implements Provider {
  readonly kind = 'local' as const;
  private readonly children = new Map<string, Child>();
  private readonly byToken = new Map<string, string[]>();
  private readonly counters = new Map<string, number>();
  private readonly now: () => number;
  private readonly logger: ProviderLogger;
  private readonly agentMain: string;

  constructor(private readonly options: LocalProviderOptions) {
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? silentLogger;
    this.agentMain = options.agentMain ?? defaultAgentMain();
  }

  async launch(group: GroupSpec, count: number, requestToken: string): Promise<Instance[]> {
    const seen = this.byToken.get(requestToken);
    if (seen) return seen.map((id) => this.children.get(id)?.instance).filter((i): i is Instance => !!i);
    if (!existsSync(this.agentMain)) {
      throw new ProviderConfigError(`agent entry point ${this.agentMain} does not exist: run \`npm run build\``, { provider: 'local', group: group.name });
    }
    const out: Instance[] = [];
    for (let k = 0; k < count; k++) out.push(this.spawnOne(group));
    this.byToken.set(requestToken, out.map((i) => i.id));
    return out;
  }

  private spawnOne(group: GroupSpec): Instance {
    // A name whose state directory a live agent still uses (one a killed master left running,
    // draining) is skipped: two processes on one state directory share one agent id, and the
    // master refuses the second (close 4409), so the group would never reach its size.
    let n = this.counters.get(group.name) ?? 0;
    do n++;
    while (stateDirInUse(join(this.options.stateRoot, `${group.name}-${n}`)));
    this.counters.set(group.name, n);
    const name = `${group.name}-${n}`;
    const id = `local-${name}`;
    const stateDir = join(this.options.stateRoot, name);
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const labels = { ...group.labels, [INSTANCE_ID_LABEL]: id };
    const args = [
      this.agentMain,
      '--master', this.options.masterUrl,
      '--name', name,
      '--group', group.name,
      '--slots', String(group.slotsPerInstance),
      '--labels', Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(','),
      '--state-dir', stateDir,
      // Agents do not outlive a killed master: they drain (their results reach the next master) and exit.
      '--exit-with-parent',
      // Public, unlike the token: fine on the command line.
      ...(this.options.tlsFingerprint ? ['--tls-fingerprint', this.options.tlsFingerprint] : []),
    ];
    const log = openSync(join(stateDir, 'agent.log'), 'a', 0o600);
    // The token goes in the environment, not argv: argv is readable by every user in ps.
    const child = spawn(this.options.nodePath ?? process.execPath, args, {
      env: { ...(this.options.env ?? process.env), QFARM_AGENT_TOKEN: this.options.agentToken },
      stdio: ['ignore', log, log],
      detached: false,
    });
    closeSync(log);
    if (child.pid !== undefined) writeFileSync(join(stateDir, PID_FILE), `${child.pid}\n`, { mode: 0o600 });
    const instance: Instance = { id, group: group.name, state: 'running', agentName: name, instanceType: 'local', launchedAt: this.now(), spot: false };
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.children.delete(id);
        this.logger.info('local agent exited', { id, code, signal });
        resolve();
      });
      child.once('error', (err) => {
        this.children.delete(id);
        this.logger.warn('local agent failed to start', { id, error: err.message });
        resolve();
      });
    });
    this.children.set(id, { instance, process: child, exited });
    this.logger.info('local agent started', { id, pid: child.pid, group: group.name });
    return instance;
  }

  async terminate(group: GroupSpec, instanceIds: string[]): Promise<void> {
    await Promise.all(
      instanceIds.map((id) => {
        const child = this.children.get(id);
        if (!child || child.instance.group !== group.name) return undefined;
        return this.stop(child);
      }),
    );
  }

  private async stop(child: Child): Promise<void> {
    child.instance.state = 'stopping';
    child.process.kill('SIGTERM');
    const grace = this.options.killGraceMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), grace)));
    const late = await Promise.race([child.exited.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      this.logger.warn('local agent ignored SIGTERM, killing it', { id: child.instance.id, graceMs: grace });
      child.process.kill('SIGKILL');
      await child.exited;
    }
  }

  async list(group: GroupSpec): Promise<Instance[]> {
    return [...this.children.values()].filter((c) => c.instance.group === group.name).map((c) => ({ ...c.instance }));
  }

  /** Stops every agent this provider started (the master is shutting down). */
  async close(): Promise<void> {
    await Promise.all([...this.children.values()].map((c) => this.stop(c)));
  }
}

/** The pid of the agent last started on a state directory, written by the provider that started it. */
const PID_FILE = 'agent.pid';

function stateDirInUse(stateDir: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(stateDir, PID_FILE), 'utf8').trim());
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A live process with that pid: ours only if it is still an agent on this directory (pids are reused).
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(stateDir);
  } catch {
    return false;
  }
}

function defaultAgentMain(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'dist', 'agent', 'main.js');
    if (existsSync(candidate)) return candidate;
    // Running from dist/master/providers: dist/agent/main.js is a sibling tree.
    const sibling = join(dir, 'agent', 'main.js');
    if (dir.endsWith('dist') && existsSync(sibling)) return sibling;
    dir = dirname(dir);
  }
  return join(process.cwd(), 'dist', 'agent', 'main.js');
}
