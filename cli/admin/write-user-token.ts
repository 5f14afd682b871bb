import { spawn } from 'node:child_process';
import { CliError } from '../cli-errors.js';

/** The account a token was issued for, as the master's user database knows it. */
export interface TokenOwner {
  user: string;
  uid: number;
  gid: number;
  home: string;
}

/**
 * Runs as the user (umask 077): writes the token from stdin to a fresh file (set -C: O_EXCL, a
 * planted name is refused, never followed) and renames it over ~/.qfarm/api-token (rename
 * replaces a planted symlink instead of writing through it; -T: never into a directory).
 */
const WRITE_SCRIPT = [
  'set -eu',
  'umask 077',
  'dir="$1/.qfarm"',
  'mkdir -p "$dir"',
  'tmp="$dir/.api-token.$$"',
  'set -C',
  'cat > "$tmp"',
  'chmod 600 "$tmp"',
  'mv -f -T "$tmp" "$dir/api-token"',
].join('\n');

/**
 * Writes ~USER/.qfarm/api-token (0600, owned by USER) BY A PROCESS RUNNING AS USER: whatever
 * the user planted at ~/.qfarm or ~/.qfarm/api-token (a symlink to /etc/shadow, to root's
 * files), the kernel checks the user's rights, not root's. The token travels on stdin, never
 * in argv or the environment. Returns the path written.
 */
export async function writeTokenAsUser(owner: TokenOwner, token: string): Promise<string> {
  if (process.getuid?.() !== 0) {
    throw new CliError(`qfarm token create: only root can write ~${owner.user}/.qfarm/api-token as ${owner.user}`, 1, 'run it as root, or use --print and give the token to the user yourself');
  }
  const argv = ['/usr/bin/setpriv', `--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--init-groups', '--', '/bin/sh', '-c', WRITE_SCRIPT, 'qfarm-write-token', owner.home];
  // The same minimal environment as agent/as-user.ts gives a user's helper process.
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: owner.home, USER: owner.user, LOGNAME: owner.user, LANG: 'C.UTF-8' };
  const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: '/', env, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c.slice(0, 4096)));
    child.on('error', reject);
    child.on('close', (status) => resolve({ code: status ?? -1, stderr }));
    child.stdin.end(`${token}\n`);
  });
  const file = `${owner.home}/.qfarm/api-token`;
  if (code !== 0) {
    throw new CliError(
      `qfarm token create: could not write ${file} as ${owner.user} (exit ${code}): ${stderr.trim() || 'no message'}`,
      1,
      `the token was issued but not delivered: revoke it (qfarm token revoke ${owner.user}), check ~${owner.user}/.qfarm, and try again`,
    );
  }
  return file;
}
