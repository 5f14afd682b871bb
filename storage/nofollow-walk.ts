/**
 * Reading a directory tree that another user controls (a task's $OUTDIR) from a root process,
 * without following anything that user can change. Node has no openat(2), so every step opens
 * `/proc/self/fd/<dirfd>/<name>` with O_NOFOLLOW: the kernel resolves the magic link to the
 * directory we already hold open (not to whatever now has its name) and refuses a symlink as
 * the last component. Each file is then judged by fstat on its own descriptor, and the caller
 * reads from that descriptor, never from the path again.
 */
import { constants, type Stats } from 'node:fs';
import { lstat, open, readdir, type FileHandle } from 'node:fs/promises';
import { StorageError } from './errors.js';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = constants;
/** Deeper trees are refused rather than holding one descriptor per level without end. */
const MAX_DEPTH = 128;

/** $OUTDIR holds something the uploader must not read: a link, a special file, a file of someone else. */
export class UnsafeOutputError extends StorageError {
  constructor(
    readonly relPath: string,
    reason: string,
  ) {
    super(`${relPath}: ${reason}`);
    this.name = 'UnsafeOutputError';
  }
}

/** A file changed, vanished or was swapped while it was being uploaded: that attempt fails and may be retried. */
export class OutputChangedError extends StorageError {
  constructor(
    readonly relPath: string,
    reason: string,
  ) {
    super(`${relPath} ${reason} during the upload; the attempt fails and the task may run again`, { retryable: true });
    this.name = 'OutputChangedError';
  }
}

export interface OpenedFile {
  /** Relative to the walked root, `/`-separated. */
  rel: string;
  /** Open for reading; the consumer closes it. */
  handle: FileHandle;
  /** fstat of `handle` when it was opened. */
  stat: Stats;
}

export interface WalkOptions {
  /** Regular files must belong to this uid (a hard link to another user's file is refused). */
  ownerUid?: number;
}

/**
 * Opens an absolute directory path component by component from `/`, refusing a symlink at
 * every step, so a user who owns a parent directory cannot redirect it.
 */
export async function openDirNoFollow(absPath: string): Promise<FileHandle> {
  if (!absPath.startsWith('/')) throw new StorageError(`${absPath} is not an absolute path`);
  let dir = await open('/', O_RDONLY | O_DIRECTORY);
  try {
    for (const part of absPath.split('/').filter((p) => p !== '' && p !== '.')) {
      if (part === '..') throw new StorageError(`${absPath} contains ".."`);
      let next: FileHandle;
      try {
        next = await open(`/proc/self/fd/${dir.fd}/${part}`, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      } catch (err) {
        throw describeOpenError(err, absPath);
      }
      await dir.close();
      dir = next;
    }
    return dir;
  } catch (err) {
    await dir.close().catch(() => undefined); // the error above is the one worth reporting
    throw err;
  }
}

/**
 * Every regular file under `root`, in name order, each opened without following links. Fails
 * (UnsafeOutputError) on a symlink, fifo, socket or device, or a file owned by another uid;
 * a name that disappears between listing and opening fails with OutputChangedError.
 */
export async function* walkNoFollow(root: string, opts: WalkOptions = {}): AsyncGenerator<OpenedFile> {
  const dir = await openDirNoFollow(root);
  try {
    yield* walkDir(dir, '', opts, 0);
  } finally {
    await dir.close();
  }
}

async function* walkDir(dir: FileHandle, relDir: string, opts: WalkOptions, depth: number): AsyncGenerator<OpenedFile> {
  if (depth > MAX_DEPTH) throw new UnsafeOutputError(relDir, `directories nested deeper than ${MAX_DEPTH} levels are not uploaded`);
  const names = (await readdir(`/proc/self/fd/${dir.fd}`)).sort();
  for (const name of names) {
    const rel = relDir === '' ? name : `${relDir}/${name}`;
    const at = `/proc/self/fd/${dir.fd}/${name}`;
    // lstat first so a fifo or device is never even opened; the fstat below is what counts.
    let seen: Stats;
    try {
      seen = await lstat(at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new OutputChangedError(rel, 'vanished');
      throw err;
    }
    if (seen.isSymbolicLink()) throw new UnsafeOutputError(rel, 'is a symbolic link; only regular files and directories are uploaded (copy the file into $OUTDIR instead)');
    if (!seen.isFile() && !seen.isDirectory()) throw new UnsafeOutputError(rel, `is a ${kindOf(seen)}; only regular files and directories are uploaded`);
    let handle: FileHandle;
    try {
      handle = await open(at, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new OutputChangedError(rel, 'vanished');
      // A link put in place of a file is the user's doing, not a node's hiccup: as final as one found by lstat.
      if (code === 'ELOOP') throw new UnsafeOutputError(rel, 'was replaced by a symbolic link during the upload; only regular files and directories are uploaded');
      throw err;
    }
    let handedOver = false;
    try {
      const st = await handle.stat();
      if (st.ino !== seen.ino || st.dev !== seen.dev) throw new OutputChangedError(rel, 'was replaced');
      if (st.isDirectory()) {
        yield* walkDir(handle, rel, opts, depth + 1);
      } else if (st.isFile()) {
        if (opts.ownerUid !== undefined && st.uid !== opts.ownerUid) {
          throw new UnsafeOutputError(rel, `belongs to uid ${st.uid}, not to the task's user (uid ${opts.ownerUid}); it is not uploaded`);
        }
        handedOver = true;
        yield { rel, handle, stat: st };
      } else {
        throw new OutputChangedError(rel, `was replaced by a ${kindOf(st)}`);
      }
    } finally {
      if (!handedOver) await handle.close();
    }
  }
}

/**
 * The bytes of an opened file from offset 0, failing if it is not exactly what fstat said when
 * it was opened; `checkUnchanged` afterwards catches a rewrite of equal size or an unlink.
 */
export async function* readExactly(file: OpenedFile): AsyncGenerator<Buffer> {
  let total = 0;
  const buf = Buffer.allocUnsafe(1024 * 1024);
  for (;;) {
    const { bytesRead } = await file.handle.read(buf, 0, buf.length, total);
    if (bytesRead === 0) break;
    total += bytesRead;
    if (total > file.stat.size) throw new OutputChangedError(file.rel, `grew beyond ${file.stat.size} bytes`);
    yield Buffer.from(buf.subarray(0, bytesRead));
  }
  if (total !== file.stat.size) throw new OutputChangedError(file.rel, `shrank from ${file.stat.size} to ${total} bytes`);
}

/** Fails when the opened file was removed, resized or rewritten since it was opened. */
export async function checkUnchanged(file: OpenedFile): Promise<void> {
  const now = await file.handle.stat();
  if (now.nlink === 0) throw new OutputChangedError(file.rel, 'was removed');
  if (now.size !== file.stat.size) throw new OutputChangedError(file.rel, `changed size (${file.stat.size} → ${now.size} bytes)`);
  if (now.mtimeMs !== file.stat.mtimeMs || now.ctimeMs !== file.stat.ctimeMs) throw new OutputChangedError(file.rel, 'was modified');
}

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'named pipe';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isSymbolicLink()) return 'symbolic link';
  return 'special file';
}

function describeOpenError(err: unknown, absPath: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP' || code === 'ENOTDIR') return new UnsafeOutputError(absPath, 'a component of this path is a symbolic link or not a directory; refusing to follow it');
  if (code === 'ENOENT') return new StorageError(`${absPath} does not exist`);
  return err as Error;
}
