/**
 * Download every object under a prefix into a local directory, in parallel, each file verified
 * and written atomically (what `qfarm get JOB DIR` needs; no node cache involved).
 *
 * Key names come from whoever wrote the outputs (another user's job, when root fetches them),
 * and the destination may hold directories others can write: every directory below `destDir`
 * is opened without following links (`/proc/self/fd/<dir>/<name>`, O_NOFOLLOW), and each file
 * is written through that descriptor, so a planted symlink cannot send a file elsewhere.
 */
import { constants } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { forEachConcurrent } from './concurrency.js';
import { StorageError } from './errors.js';
import { openDirNoFollow } from './nofollow-walk.js';
import type { StoreResolver } from './open-store.js';
import { directoryPrefix, isPlainRelativePath } from './tree-keys.js';

export interface DownloadTreeResult {
  files: number;
  bytes: number;
  elapsedMs: number;
}

export interface DownloadTreeOptions {
  resolver: StoreResolver;
  /** Downloads in flight. @default 16 */
  concurrency?: number;
  /** Called after each file, e.g. for a progress line. */
  onFile?: (relativePath: string, size: number) => void;
}

export async function downloadTree(srcPrefixUrl: string, destDir: string, opts: DownloadTreeOptions): Promise<DownloadTreeResult> {
  const started = Date.now();
  const { store, location } = opts.resolver.forUrl(srcPrefixUrl);
  const prefix = directoryPrefix(location.prefix);
  const root = resolve(destDir);
  // The destination itself is the caller's choice; only what is below it is guarded.
  await mkdir(root, { recursive: true });
  const result: DownloadTreeResult = { files: 0, bytes: 0, elapsedMs: 0 };
  await forEachConcurrent(store.list(prefix), opts.concurrency ?? 16, async (meta) => {
    if (meta.key.endsWith('/')) return;
    const rel = meta.key.slice(prefix.length);
    if (!isPlainRelativePath(rel)) {
      throw new StorageError(`refusing to download ${store.urlFor(meta.key)}: it would land outside ${root}`);
    }
    const parts = rel.split('/');
    const dir = await openSubdirNoFollow(root, parts.slice(0, -1), store.urlFor(meta.key));
    try {
      const got = await store.download(meta.key, `/proc/self/fd/${dir.fd}/${parts[parts.length - 1]!}`);
      result.files++;
      result.bytes += got.size;
      opts.onFile?.(rel, got.size);
    } finally {
      await dir.close();
    }
  });
  result.elapsedMs = Date.now() - started;
  return result;
}

/** `root/a/b/…`, each level created if missing and opened with O_NOFOLLOW. */
async function openSubdirNoFollow(root: string, parts: string[], url: string): Promise<FileHandle> {
  let dir = await openDirNoFollow(root);
  try {
    for (const [i, part] of parts.entries()) {
      const at = `/proc/self/fd/${dir.fd}/${part}`;
      await mkdir(at).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      let next: FileHandle;
      try {
        next = await open(at, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ELOOP' || code === 'ENOTDIR') {
          throw new StorageError(`refusing to download ${url}: ${root}/${parts.slice(0, i + 1).join('/')} is a symbolic link or not a directory`);
        }
        throw err;
      }
      await dir.close();
      dir = next;
    }
    return dir;
  } catch (err) {
    await dir.close().catch(() => undefined); // the error above says what failed
    throw err;
  }
}
