import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAsUser, type UnixUser } from './unix-users.js';

/** The repository root, from this file (test/helpers). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = path.join(ROOT, 'dist');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface FarmOptions {
  heartbeatMs?: number;
  leaseGraceMs?: number;
  /** Listen address of the master. @default 127.0.0.1 (plain http); other hosts turn TLS on. */
  listenHost?: string;
  /** Extra master flags, e.g. ['--tls']. */
  masterArgs?: string[];
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

/**
 * A real farm for end-to-end tests: the built master and agents as child processes with a
 * private QFARM_HOME, and the real bin/ commands run against it. Requires `npm run build`
 * (npm test does it first).
 */
export class TestFarm {
  master: ChildProcess | undefined;
  readonly agents = new Map<string, ChildProcess>();
  url = '';
  /** The master's certificate fingerprint from master.json when it serves https. */
  tlsFingerprint: string | undefined;
  readonly work: string;
  private masterLog: string;

  private constructor(
    readonly home: string,
    private readonly options: FarmOptions,
  ) {
    this.work = path.join(home, 'work');
    fs.mkdirSync(this.work, { recursive: true });
    this.masterLog = path.join(home, 'master.log');
  }

  static async start(t: Teardown, options: FarmOptions & { agents?: number; slots?: number } = {}): Promise<TestFarm> {
    if (!fs.existsSync(path.join(DIST, 'master', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` before the e2e tests');
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-e2e-'));
    const farm = new TestFarm(home, options);
    t.teardown(() => farm.stop());
    await farm.startMaster();
    for (let i = 1; i <= (options.agents ?? 0); i++) await farm.startAgent(`node${i}`, { slots: options.slots ?? 1 });
    return farm;
  }

  get env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, QFARM_HOME: this.home, PATH: `${path.join(ROOT, 'bin')}:${process.env['PATH']}` };
    delete env['QFARM_MASTER'];
    delete env['QFARM_TOKEN'];
    return env;
  }

  token(kind: 'api' | 'agent'): string {
    return fs.readFileSync(path.join(this.home, `${kind}-token`), 'utf8').trim();
  }

  /** Starts the master; `port` reuses a previous master's port so running agents find it again. */
  async startMaster(port = 0): Promise<void> {
    const log = fs.openSync(this.masterLog, 'a');
    const master = spawn(process.execPath, [path.join(DIST, 'master', 'main.js'), '--listen', `${this.options.listenHost ?? '127.0.0.1'}:${port}`, ...(this.options.masterArgs ?? [])], {
      env: {
        ...this.env,
        QFARM_HEARTBEAT_MS: String(this.options.heartbeatMs ?? 500),
        QFARM_LEASE_GRACE_MS: String(this.options.leaseGraceMs ?? 3000),
      },
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    this.master = master;
    const info = path.join(this.home, 'master.json');
    await this.waitFor(
      () => {
        if (master.exitCode !== null) throw new Error(`master exited early:\n${this.masterLogText()}`);
        try {
          const parsed = JSON.parse(fs.readFileSync(info, 'utf8')) as { url: string; pid: number; tlsFingerprint?: string };
          if (parsed.pid !== master.pid) return false;
          this.url = parsed.url;
          this.tlsFingerprint = parsed.tlsFingerprint;
          return true;
        } catch {
          return false;
        }
      },
      15_000,
      'master to publish master.json',
    );
  }

  /** kill -9 the master, then start it again on the same port and store. */
  async crashAndRestartMaster(): Promise<void> {
    const port = Number(new URL(this.url).port);
    await this.stopProcess(this.master, 'SIGKILL');
    await this.startMaster(port);
  }

  masterLogText(): string {
    return fs.existsSync(this.masterLog) ? fs.readFileSync(this.masterLog, 'utf8') : '';
  }

  /** Starts an agent process and waits until the master lists it online; `args` are extra agent flags. */
  async startAgent(name: string, options: { slots?: number; group?: string; env?: NodeJS.ProcessEnv; args?: string[] } = {}): Promise<ChildProcess> {
    const log = fs.openSync(path.join(this.home, `agent-${name}.log`), 'a');
    const args = [path.join(DIST, 'agent', 'main.js'), '--master', this.url, '--name', name, '--slots', String(options.slots ?? 1)];
    args.push('--state-dir', path.join(this.home, 'agents', name), '--group', options.group ?? 'default');
    if (this.tlsFingerprint) args.push('--tls-fingerprint', this.tlsFingerprint);
    args.push(...(options.args ?? []));
    const agent = spawn(process.execPath, args, { env: { ...this.env, ...options.env, QFARM_AGENT_TOKEN: this.token('agent') }, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.agents.set(name, agent);
    await this.waitFor(async () => (await this.hostState(name)) === 'online', 15_000, `agent ${name} to come online`);
    return agent;
  }

  async hostState(name: string): Promise<string | undefined> {
    const res = (await this.api('GET', '/hosts')) as { hosts: { hostname: string; state: string }[] };
    return res.hosts.find((h) => h.hostname === name)?.state;
  }

  async api(method: string, route: string, body?: unknown): Promise<unknown> {
    if (this.url.startsWith('https:')) return this.pinnedApi(method, route, body);
    const res = await fetch(`${this.url}/api/v1${route}`, {
      method,
      headers: { authorization: `Bearer ${this.token('api')}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${route}: HTTP ${res.status} ${text}`);
    return JSON.parse(text);
  }

  /** api() for a TLS master: fetch cannot pin a certificate, node:https with protocol/tls-pin can. */
  private async pinnedApi(method: string, route: string, body?: unknown): Promise<unknown> {
    const { pinnedConnection } = await import('../../protocol/tls-pin.js');
    const https = await import('node:https');
    const payload = body ? JSON.stringify(body) : undefined;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request(
        `${this.url}/api/v1${route}`,
        {
          method,
          headers: { authorization: `Bearer ${this.token('api')}`, ...(payload ? { 'content-type': 'application/json' } : {}) },
          createConnection: pinnedConnection(this.tlsFingerprint ?? 'no fingerprint in master.json') as never,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
    if (status >= 400) throw new Error(`${method} ${route}: HTTP ${status} ${text}`);
    return JSON.parse(text);
  }

  /** Runs one of bin/ (qsub, qstat, ...) against this farm. */
  run(verb: string, args: string[], options: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(path.join(ROOT, 'bin', verb), args, { cwd: options.cwd ?? this.work, env: { ...this.env, ...options.env } });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      child.stdin.end(options.input ?? '');
    });
  }

  /**
   * Runs one of bin/ as `user` (an ordinary account: test/helpers/unix-users.ts) in their home,
   * with QFARM_HOME set to this farm's: what that user typing the command would get. The
   * master makes its home 0711, so the user reaches api.sock and nothing else.
   */
  runAs(user: UnixUser, verb: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<RunResult> {
    return runAsUser(user, [path.join(ROOT, 'bin', verb), ...args], {
      cwd: options.cwd ?? user.home,
      input: options.input ?? '',
      env: { QFARM_HOME: this.home, PATH: `${path.join(ROOT, 'bin')}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, ...options.env },
    });
  }

  /**
   * A job that holds `slots` slots until `release()` is called: deterministic slot pressure,
   * whatever the machine's load (a `sleep N` blocker races against slow submissions).
   */
  async occupySlots(slots: number): Promise<{ jobId: number; release: () => Promise<void> }> {
    const gate = path.join(this.work, `gate-${Date.now()}-${Math.random().toString(36).slice(2)}`);
    const jobId = await this.submit(['-cwd', '-o', '/dev/null', '-e', '/dev/null', '-t', `1-${slots}`, '-b', 'y', 'sh', '-c', 'while [ ! -e "$1" ]; do sleep 0.05; done', 'gate', gate]);
    await this.waitFor(async () => {
      const rows = ((await this.api('GET', '/jobs')) as { rows: { jobId: number; state: string }[] }).rows;
      return rows.filter((r) => r.jobId === jobId && r.state === 'r').length === slots;
    }, 20_000, `blocker job ${jobId} to occupy ${slots} slot(s)`);
    return {
      jobId,
      release: async () => {
        fs.writeFileSync(gate, '');
        await this.waitForJob(jobId);
      },
    };
  }

  /** qsub -terse, returning the job id. */
  async submit(args: string[], options: { cwd?: string; input?: string } = {}): Promise<number> {
    const res = await this.run('qsub', ['-terse', ...args], options);
    if (res.code !== 0) throw new Error(`qsub ${args.join(' ')} failed (${res.code}): ${res.stderr}`);
    return Number.parseInt(res.stdout, 10);
  }

  async jobFinished(jobId: number): Promise<boolean> {
    const res = (await this.api('GET', `/jobs/${jobId}/wait?timeout=0`)) as { finished: boolean };
    return res.finished;
  }

  async waitForJob(jobId: number, timeoutMs = 30_000): Promise<void> {
    await this.waitFor(() => this.jobFinished(jobId), timeoutMs, `job ${jobId} to finish`);
  }

  async waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await predicate()) return;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => this.stopProcess(a)));
    await this.stopProcess(this.master);
    if (!process.env['QFARM_KEEP_TEST_HOME']) fs.rmSync(this.home, { recursive: true, force: true });
  }
}
