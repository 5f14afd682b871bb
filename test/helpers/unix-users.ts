import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';

/**
 * Real unprivileged accounts for security tests. The suite runs as root (CI does); the attacks
 * it tries must come from an ordinary user, so the tests make those users themselves.
 */
export interface UnixUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The two attackers the security tests use; each has a private home (0700) it owns. */
export const ATTACKER = 'qfarm-mallory';
export const BYSTANDER = 'qfarm-bob';

/**
 * Fails loudly when the suite does not run as root: the security guarantees are about a root
 * agent and master, and a skipped attack proves nothing (CI runs as root).
 */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('this test tries attacks of an ordinary user against a root-run farm: run the suite as root (CI does)');
  }
}

function lookup(name: string): UnixUser | undefined {
  try {
    const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim();
    const [, , uid, gid, , home] = line.split(':');
    return { name, uid: Number(uid), gid: Number(gid), home: home! };
  } catch {
    return undefined;
  }
}

/**
 * The named account, created on first use (`useradd -m`, home 0700). Idempotent; retried while
 * another test process holds the passwd lock.
 */
export function ensureUser(name: string): UnixUser {
  requireRoot();
  for (let attempt = 0; ; attempt++) {
    const found = lookup(name);
    if (found) {
      fs.chmodSync(found.home, 0o700);
      return found;
    }
    try {
      execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', '--user-group', name], { stdio: 'pipe' });
    } catch (err) {
      // Exit 9: created meanwhile by a parallel test; 10: the passwd file was locked.
      if (attempt >= 50) throw new Error(`useradd ${name} failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? err}`);
      execFileSync('sleep', ['0.1']);
    }
  }
}

export interface UserRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command as `user` with a clean login-like environment plus `env`: what that user
 * typing the command in a shell would do. setpriv switches uid, gid and groups before exec.
 */
export function runAsUser(
  user: UnixUser,
  argv: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<UserRun> {
  const env: NodeJS.ProcessEnv = {
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'C.UTF-8',
    ...options.env,
  };
  const cmd = ['/usr/bin/setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', ...argv];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0]!, cmd.slice(1), { cwd: options.cwd ?? user.home, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    // A command that never reads its stdin (ls, cat FILE) may exit before the write: EPIPE is expected there.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    // A command that exits without reading its input (ls, rm) closes the pipe: not an error.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin.end(options.input ?? '');
  });
}
