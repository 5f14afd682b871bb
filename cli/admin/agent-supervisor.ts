import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { compileRetryPolicy, delayFor, type CompiledRetryPolicy } from '../../retry/retry-policy.js';

export interface SupervisorOptions {
  /** Shown in messages: `agent NAME`. */
  name: string;
  command: string;
  args: string[];
  spawnOptions: SpawnOptions;
  /** Where its log is, named in every message about it. */
  logHint: string;
  /** First restart delay. @default 1000 */
  baseDelayMs?: number;
  /** Longest restart delay: an agent that keeps dying is retried this often, never faster. @default 60000 */
  maxDelayMs?: number;
  /** A run at least this long counts as healthy and resets the backoff. @default 60000 */
  healthyAfterMs?: number;
  say: (line: string) => void;
}

/**
 * Keeps one local daemon running for `qfarm up`: when it dies it is started again after an
 * exponential backoff (1 s, 2 s, 4 s ... capped at 60 s; reset after a minute of healthy
 * running), so a crash heals itself and an agent that cannot start does not spin the CPU.
 */
export class Supervisor {
  private child: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private readonly restarts: CompiledRetryPolicy;

  constructor(private readonly opts: SupervisorOptions) {
    // One local daemon has nobody to fall into lockstep with: no jitter, the delays as stated.
    this.restarts = compileRetryPolicy({
      initialIntervalMs: opts.baseDelayMs ?? 1000,
      maximumIntervalMs: opts.maxDelayMs ?? 60_000,
      maximumAttempts: Infinity,
      jitter: 0,
    });
  }

  start(): void {
    const started = Date.now();
    const child = spawn(this.opts.command, this.opts.args, this.opts.spawnOptions);
    this.child = child;
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopped) return;
      if (Date.now() - started >= (this.opts.healthyAfterMs ?? 60_000)) this.failures = 0;
      this.failures++;
      const delay = delayFor(this.restarts, this.failures);
      this.opts.say(
        `qfarm up: ${this.opts.name} exited (${signal ?? `code ${code}`}); restarting it in ${formatDelay(delay)} ` +
          `(restart ${this.failures}, backoff doubles up to ${formatDelay(this.restarts.maximumIntervalMs)}); see ${this.opts.logHint}`,
      );
      this.timer = setTimeout(() => this.stopped || this.start(), delay);
    });
  }

  /** Stops restarting and signals the running process; resolves when it has exited. */
  stop(signal: NodeJS.Signals): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  /** Sends a signal to the running process, if any, without waiting (a second Ctrl-C). */
  signal(signal: NodeJS.Signals): void {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
  }

  kill(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.child?.kill('SIGKILL');
  }
}

function formatDelay(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}
