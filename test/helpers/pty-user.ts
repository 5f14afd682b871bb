import pty from 'node-pty';
import type { UnixUser } from './unix-users.js';

/**
 * A command run as an ordinary user in a real pseudo-terminal (node-pty): what that user typing
 * at a terminal would see. The screen is kept as text to wait for prompts in.
 */
export class PtyUser {
  screen = '';
  readonly exited: Promise<number>;
  private readonly proc: pty.IPty;

  constructor(user: UnixUser, argv: string[], options: { env: Record<string, string>; cwd?: string; cols?: number; rows?: number }) {
    const env = { HOME: user.home, USER: user.name, LOGNAME: user.name, PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C.UTF-8', TERM: 'xterm', ...options.env };
    this.proc = pty.spawn('/usr/bin/setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', ...argv], {
      name: 'xterm',
      cols: options.cols ?? 80,
      rows: options.rows ?? 24,
      cwd: options.cwd ?? user.home,
      env,
    });
    this.proc.onData((d) => (this.screen += d));
    this.exited = new Promise((resolve) => this.proc.onExit(({ exitCode }) => resolve(exitCode)));
  }

  get pid(): number {
    return this.proc.pid;
  }

  type(text: string): void {
    this.proc.write(text);
  }

  resize(cols: number, rows: number): void {
    this.proc.resize(cols, rows);
  }

  kill(signal: string): void {
    this.proc.kill(signal);
  }

  /** Waits until the screen, after `from` characters, matches; returns the match and where it ended. */
  async waitFor(pattern: RegExp, from = 0, timeoutMs = 20_000): Promise<{ match: RegExpExecArray; end: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rest = this.screen.slice(from);
      const match = pattern.exec(rest);
      if (match) return { match, end: from + match.index + match[0].length };
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} on the terminal; it shows: ${JSON.stringify(rest.slice(-1000))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
