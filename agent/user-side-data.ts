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

/**
 * A helper running as the task's user failed; the message carries the tool's own reason.
 * `deniedToUser`: the kernel refused that user (EACCES/EPERM, a read-only file system): the
 * user's own rights, the same on every node, so running the task again elsewhere cannot help.
 */
export class UserSideError extends Error {
  readonly deniedToUser: boolean;
  constructor(message: string, toolStderr = '') {
    super(message);
    this.name = 'UserSideError';
    this.deniedToUser = /Permission denied|Operation not permitted|Read-only file system/.test(toolStderr);
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
      else reject(new UserSideError(`${what} as user ${who.identity.name} failed: ${stderr.trim() || (signal ? `killed by ${signal}` : `exit status ${code}`)}`, stderr));
    });
  });
}

/**
 * The shell script of a writer running as the user: the files arrive in a private directory
 * inside the target (`fill`), then each is renamed into place, so a task reading the target
 * meanwhile (another task of the node re-staging the same path) sees the old file or the new
 * one, never a missing or half-written one. $1 = target, $2 = ro|rw, $3 = source (cp only).
 * `umask` decides the modes of what is created (the tar entries carry 0666).
 */
function writerScript(fill: string, umask = 0o022): string {
  return [
    `umask ${(umask & 0o777).toString(8).padStart(4, '0')}`,
    'mkdir -p -- "$1" || exit 1',
    'tmp=$(mktemp -d -- "$1/.qfarm-incoming.XXXXXX") || exit 1',
    'trap \'rm -rf -- "$tmp"\' EXIT',
    `${fill} || exit 1`,
    '[ "$2" = rw ] || find "$tmp" -type f -exec chmod a-w {} + || exit 1',
    'cd -- "$tmp" || exit 1',
    // One mv per directory: rename(2) of every file into its place in the target.
    'find . -type d -exec sh -c \'for d; do mkdir -p -- "$0/$d" && { find "$d" -maxdepth 1 -type f -print0 | xargs -0 -r mv -f -t "$0/$d" --; } || exit 1; done\' "$1" {} +',
  ].join('\n');
}

/**
 * A writer running as the user that creates `targetDir` (and parents) and puts every file of
 * the tar stream under it, with the user's rights and ownership; modes are the entries' minus
 * `umask` (outputs pass the job's, as SGE's files follow the submitter's umask).
 */
export function openUserTar(targetDir: string, who: TaskDataUser, what: string, readOnly = false, umask = 0o022): FileDestination {
  const script = writerScript('tar -x -f - -C "$tmp" --no-same-owner --no-same-permissions', umask);
  const child = startHelper(['/bin/sh', '-c', script, 'qfarm-writer', targetDir, readOnly ? 'ro' : 'rw'], who, 'pipe');
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
 * Regular files are staged (links and special files are not, as before); read-only inputs end
 * as files without write permission, owned by the user.
 */
export async function copyTreeAsUser(sourceDir: string, targetDir: string, readOnly: boolean, who: TaskDataUser, what: string): Promise<void> {
  const script = writerScript('cp -R -- "$3/." "$tmp/"');
  const child = startHelper(['/bin/sh', '-c', script, 'qfarm-copier', targetDir, readOnly ? 'ro' : 'rw', sourceDir], who, 'ignore');
  await outcome(child, what, who);
}

/** `mkdir -p` as the user: a directory they may not create fails with mkdir's own reason. */
export async function makeDirAsUser(dir: string, who: TaskDataUser, what: string): Promise<void> {
  await outcome(startHelper(['/bin/mkdir', '-p', '--', dir], who, 'ignore'), what, who);
}
