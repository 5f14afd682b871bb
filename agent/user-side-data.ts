import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import type { FileDestination } from '../storage/upload-outputs.js';
import { TarWriter } from '../storage/tar-writer.js';
import { helperEnvironment, spawnAsUser, type UserIdentity } from './as-user.js';
import type { GroupSetup } from './supplementary-groups.js';

/**
 * The processes that touch a task's data paths for the root agent, each running as the task's
 * user (agent/as-user.ts): the kernel checks that user's rights on every source read and every
 * target created, so `-data file:///root/x/:…` or `-outdir file:///etc/x/` fail with its own
 * EACCES. The agent gives them bytes it read itself (a tar stream), never a path it opened.
 */

/** Who a task's data belongs to, and how to start a process as them. */
export interface TaskDataUser {
  identity: UserIdentity;
  groups: GroupSetup | undefined;
  /** The agent already runs as this user (no uid switch, e.g. root's own jobs). */
  asSelf: boolean;
}

/** A helper running as the task's user failed; the message carries the tool's own reason. */
export class UserSideError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserSideError';
  }
}

/** stderr kept per helper: enough for the tool's reason, bounded whatever it prints. */
const STDERR_LIMIT = 4096;

function startHelper(argv: string[], who: TaskDataUser, stdin: 'pipe' | 'ignore'): ChildProcess {
  const stdio: ['pipe' | 'ignore', 'ignore', 'pipe'] = [stdin, 'ignore', 'pipe'];
  if (who.asSelf) return spawn(argv[0]!, argv.slice(1), { cwd: '/', env: helperEnvironment(who.identity), stdio });
  return spawnAsUser(argv, who.identity, who.groups, { stdio });
}

/** Resolves when the helper exits 0; rejects with `what` and the helper's own words otherwise. */
function outcome(child: ChildProcess, what: string, who: TaskDataUser): Promise<void> {
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < STDERR_LIMIT) stderr += chunk.slice(0, STDERR_LIMIT - stderr.length);
  });
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(new UserSideError(`${what} as user ${who.identity.name}: could not start ${err.message}`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new UserSideError(`${what} as user ${who.identity.name} failed: ${stderr.trim() || (signal ? `killed by ${signal}` : `exit status ${code}`)}`));
    });
  });
}

/**
 * A `tar -x` running as the user that creates `targetDir` (and parents) and writes every entry
 * of the stream under it, with the user's rights and ownership.
 */
export function openUserTar(targetDir: string, who: TaskDataUser, what: string): FileDestination {
  const script = 'umask 022; mkdir -p -- "$1" && exec tar -x -f - -C "$1" --no-same-owner --no-same-permissions';
  const child = startHelper(['/bin/sh', '-c', script, 'qfarm-writer', targetDir], who, 'pipe');
  const done = outcome(child, what, who);
  done.catch(() => undefined); // awaited by done(); meanwhile a write error may come first
  // A writer that exits early (EACCES on mkdir) closes its stdin: EPIPE is reported by done().
  child.stdin!.on('error', () => undefined);
  return {
    tar: new TarWriter(child.stdin!),
    done: () => done,
    abort: async () => {
      // A writer that failed by itself has exited (that is why its pipe broke): wait a moment
      // for its reason before stopping one that is merely waiting for more input.
      const settled = await Promise.race([done.then(() => undefined, (err: Error) => err), delay(500).then(() => 'running' as const)]);
      child.stdin!.destroy();
      if (settled === 'running') {
        child.kill('SIGKILL');
        return undefined;
      }
      return settled;
    },
  };
}

/**
 * Copies a local directory the user names (`file://` input) to `targetDir`, entirely as the
 * user: reading a directory they may not read fails with cp's own "Permission denied".
 * Read-only inputs end as files without write permission, owned by the user.
 */
export async function copyTreeAsUser(sourceDir: string, targetDir: string, readOnly: boolean, who: TaskDataUser, what: string): Promise<void> {
  const script = [
    'umask 022',
    'mkdir -p -- "$2" || exit 1',
    'cp -R -f -- "$1/." "$2/" || exit 1',
    '[ "$3" = rw ] || find "$2" -type f -exec chmod a-w {} +',
  ].join('\n');
  const child = startHelper(['/bin/sh', '-c', script, 'qfarm-copier', sourceDir, targetDir, readOnly ? 'ro' : 'rw'], who, 'ignore');
  await outcome(child, what, who);
}

/** `mkdir -p` as the user: a directory they may not create fails with mkdir's own reason. */
export async function makeDirAsUser(dir: string, who: TaskDataUser, what: string): Promise<void> {
  await outcome(startHelper(['/bin/mkdir', '-p', '--', dir], who, 'ignore'), what, who);
}
