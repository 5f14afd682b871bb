import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A throwaway embedded farm (qfarm up) for benchmarks, in its own QFARM_HOME. */
export class EmbeddedFarm {
  readonly home = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-bench-'));
  readonly env: NodeJS.ProcessEnv = { ...process.env, QFARM_HOME: this.home };
  private up: ChildProcess | undefined;

  constructor() {
    delete this.env['QFARM_MASTER'];
    delete this.env['QFARM_TOKEN'];
  }

  bin(verb: string): string {
    return path.join(ROOT, 'bin', verb);
  }

  async start(agents: number, slots: number): Promise<void> {
    this.up = spawn(this.bin('qfarm'), ['up', '--agents', String(agents), '--slots', String(slots), '--listen', '127.0.0.1:0'], {
      env: this.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    await new Promise<void>((resolve, reject) => {
      this.up!.stderr!.setEncoding('utf8').on('data', (c: string) => {
        err += c;
        if (err.includes('Ctrl-C stops them')) resolve();
      });
      this.up!.on('exit', (code) => reject(new Error(`qfarm up exited (${code}): ${err}`)));
    });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const hosts = (await this.api('GET', '/hosts')) as { hosts: { state: string }[] };
      if (hosts.hosts.filter((h) => h.state === 'online').length >= agents) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('agents did not join within 30 s');
  }

  async api(method: string, route: string, body?: unknown): Promise<unknown> {
    const info = JSON.parse(fs.readFileSync(path.join(this.home, 'master.json'), 'utf8')) as { url: string };
    const token = fs.readFileSync(path.join(this.home, 'api-token'), 'utf8').trim();
    const res = await fetch(`${info.url}/api/v1${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`${method} ${route}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  }

  run(verb: string, args: string[]): string {
    const res = spawnSync(this.bin(verb), args, { env: this.env, encoding: 'utf8', cwd: this.home });
    if (res.status !== 0) throw new Error(`${verb} ${args.join(' ')} failed: ${res.stderr}`);
    return res.stdout;
  }

  /** Waits for a job with the master's long poll (no polling interval to add latency). */
  async waitForJob(jobId: number): Promise<void> {
    for (;;) {
      const res = (await this.api('GET', `/jobs/${jobId}/wait?timeout=30`)) as { finished: boolean };
      if (res.finished) return;
    }
  }

  /** Peak resident memory of the master process, from /proc (KiB). */
  masterRssKiB(): { rss: number; hwm: number } | undefined {
    try {
      const { pid } = JSON.parse(fs.readFileSync(path.join(this.home, 'master.json'), 'utf8')) as { pid: number };
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
      return { rss: field('VmRSS'), hwm: field('VmHWM') };
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    if (this.up && this.up.exitCode === null) {
      const exited = new Promise((r) => this.up!.once('exit', r));
      this.up.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(this.home, { recursive: true, force: true });
  }
}
