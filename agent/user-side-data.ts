import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
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

function startHelper(argv: string[], who: TaskDataUser, stdin: 'pipe' | 'ignore', stdout: 'pipe' | 'ignore' = 'ignore'): ChildProcess {
  const stdio: ['pipe' | 'ignore', 'pipe' | 'ignore', 'pipe'] = [stdin, stdout, 'pipe'];
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

/** renameat2(2)'s system call number: perl reaches it through syscall() (no libc wrapper needed). */
const RENAMEAT2: Partial<Record<NodeJS.Architecture, number>> = { x64: 316, arm64: 276 };

/**
 * Publishes the finished tree `$tmp` at `$1` in one step with renameat2: RENAME_NOREPLACE when
 * nothing is there (an empty directory is removed first); RENAME_EXCHANGE over a tree a qfarm
 * staging published (its marker `.NAME.qfarm-staged` is next to it), so a task looking at the
 * target sees the old tree or the new one, whole. Anything else at the target is the user's own
 * and is never replaced. After an exchange `$tmp` holds the old tree.
 */
const PUBLISH_PERL = [
  'my ($nr, $from, $to, $marker) = @ARGV;',
  'sub put { return syscall($nr, -100, $from, -100, $to, $_[0]) == 0; }',
  'exit 0 if put(1);',
  'die "cannot publish the staged tree at $to: $!\\n" unless $!{EEXIST};',
  'exit 0 if rmdir($to) && put(1);',
  'if (-e $marker) { exit 0 if put(2); die "cannot replace the staged tree at $to: $!\\n"; }',
  'die "$to exists and is not empty, and no qfarm staging put it there: map the input to a path that does not exist or is an empty directory\\n";',
].join(' ');

/**
 * The shell script of a publishing writer running as the user: the whole tree is built in a
 * hidden sibling of the target (`.NAME.qfarm-stage.XXXXXX`, same file system), then renamed
 * into place in one step, and the marker next to it records the source version it holds. A
 * task of the node never sees a partial tree. $1 = target, $2 = ro|rw, $3 = renameat2's number,
 * $4 = keep|drop: with keep, the tree an exchange replaced stays at `.NAME.qfarm-old.XXXXXX`
 * (running tasks may be inside it) and its path is printed; $5 = version; $6 = source (cp only).
 */
function publishingScript(fill: string): string {
  return [
    'umask 022',
    'parent=$(dirname -- "$1") && base=$(basename -- "$1") || exit 1',
    'marker="$parent/.$base.qfarm-staged"',
    'mkdir -p -- "$parent" || exit 1',
    'tmp=$(mktemp -d -- "$parent/.$base.qfarm-stage.XXXXXX") || exit 1',
    'trap \'rm -rf -- "$tmp"\' EXIT',
    'chmod 755 "$tmp" || exit 1',
    `${fill} || exit 1`,
    '[ "$2" = rw ] || find "$tmp" -type f -exec chmod a-w {} + || exit 1',
    // Publishing is serialised per path between the agents of a machine (tests, `qfarm up`):
    // one that finds this very version published meanwhile keeps it and drops its own copy.
    'exec 9>>"$parent/.$base.qfarm-lock" && flock 9 || exit 1',
    'if [ "$2" = ro ] && [ -d "$1" ] && [ "$(cat -- "$marker" 2>/dev/null)" = "$5" ]; then exit 0; fi',
    `perl -e '${PUBLISH_PERL}' "$3" "$tmp" "$1" "$marker" || exit 1`,
    'printf "%s\\n" "$5" > "$marker.$$" && mv -f -- "$marker.$$" "$marker" || exit 1',
    // After an exchange $tmp is the old tree (removed by the trap); after a rename it is gone.
    'if [ "$4" = keep ] && [ -e "$tmp" ]; then old="$parent/.$base.qfarm-old.${tmp##*.}"; mv -T -- "$tmp" "$old" && printf "%s" "$old"; fi',
  ].join('\n');
}

/**
 * Whether the tree at `targetDir` is a qfarm staging of `version` (its marker says so), checked
 * by a process running as the user: another agent of this machine, or this agent before a
 * restart, staged it already.
 */
export async function isPublishedAsUser(targetDir: string, version: string, who: TaskDataUser): Promise<boolean> {
  const script = 'm="$(dirname -- "$1")/.$(basename -- "$1").qfarm-staged"; [ -d "$1" ] && [ -f "$m" ] && [ "$(cat -- "$m")" = "$2" ]';
  return outcome(startHelper(['/bin/sh', '-c', script, 'qfarm-check', targetDir, version], who, 'ignore'), 'checking a staged input', who).then(
    () => true,
    () => false,
  );
}

export interface PublishedTree {
  /** Where the replaced tree was kept (`keepReplaced`), to be removed when no task uses it. */
  replaced?: string;
}

/**
 * Builds an input tree as the user (from a tar stream, or by copying `sourceDir`) next to
 * `targetDir` and publishes it there atomically (see publishingScript).
 */
export function openPublishingWriter(
  targetDir: string,
  who: TaskDataUser,
  what: string,
  opts: { readOnly: boolean; keepReplaced: boolean; version: string; sourceDir?: string },
): { tar: TarWriter | undefined; done: () => Promise<PublishedTree>; abort: () => Promise<Error | undefined> } {
  const nr = RENAMEAT2[process.arch];
  if (nr === undefined) throw new UserSideError(`${what}: publishing staged inputs atomically is not supported on ${process.arch} (x64 and arm64 are)`);
  const fill = opts.sourceDir === undefined ? 'tar -x -f - -C "$tmp" --no-same-owner --no-same-permissions' : 'cp -R -- "$6/." "$tmp/"';
  const argv = ['/bin/sh', '-c', publishingScript(fill), 'qfarm-publisher', targetDir, opts.readOnly ? 'ro' : 'rw', String(nr), opts.keepReplaced ? 'keep' : 'drop', opts.version];
  if (opts.sourceDir !== undefined) argv.push(opts.sourceDir);
  const child = startHelper(argv, who, opts.sourceDir === undefined ? 'pipe' : 'ignore', 'pipe');
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    if (stdout.length < STDERR_LIMIT) stdout += c;
  });
  const done = outcome(child, what, who).then((): PublishedTree => (stdout ? { replaced: stdout } : {}));
  done.catch(() => undefined); // awaited by done(); meanwhile a write error may come first
  child.stdin?.on('error', () => undefined); // EPIPE of a writer that exited early: reported by done()
  return {
    tar: child.stdin ? new TarWriter(child.stdin) : undefined,
    done: () => done,
    abort: async () => {
      const settled = await Promise.race([done.then(() => undefined, (err: Error) => err), delay(500).then(() => 'running' as const)]);
      child.stdin?.destroy();
      if (settled === 'running') {
        child.kill('SIGKILL');
        return undefined;
      }
      return settled;
    },
  };
}

/**
 * A digest of the regular files under `sourceDir` (path, size, modification time), listed by a
 * process running as the user: whether a `file://` input changed since it was staged.
 */
export async function treeDigestAsUser(sourceDir: string, who: TaskDataUser, what: string): Promise<string> {
  // Sorted: readdir's order is no property of the tree. find's failure (EACCES) fails the digest.
  const script = `list=$(find "$1" -type f -printf '%P\\t%s\\t%T@\\n') || exit 1\nprintf '%s\\n' "$list" | LC_ALL=C sort`;
  const child = startHelper(['/bin/sh', '-c', script, 'qfarm-lister', sourceDir], who, 'ignore', 'pipe');
  const hash = createHash('sha256');
  child.stdout!.on('data', (chunk: Buffer) => hash.update(chunk));
  await outcome(child, what, who);
  return hash.digest('hex');
}

/** Removes a tree the user's staging replaced (`rm -rf` as the user). */
export async function removeTreeAsUser(dir: string, who: TaskDataUser, what: string): Promise<void> {
  await outcome(startHelper(['/bin/rm', '-rf', '--', dir], who, 'ignore'), what, who);
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

/** `mkdir -p` as the user: a directory they may not create fails with mkdir's own reason. */
export async function makeDirAsUser(dir: string, who: TaskDataUser, what: string): Promise<void> {
  await outcome(startHelper(['/bin/mkdir', '-p', '--', dir], who, 'ignore'), what, who);
}
