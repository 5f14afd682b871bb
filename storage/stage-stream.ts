/**
 * Stage an object prefix through the node's cache into a tar stream: the cache (root's, 0700)
 * downloads each object once per node, and the bytes go to whoever extracts the stream (a
 * `tar -x` running as the task's user), so no task ever holds a path or a link into the cache.
 */
import { open } from 'node:fs/promises';
import { forEachConcurrent } from './concurrency.js';
import { StorageError } from './errors.js';
import type { ObjectMeta } from './object-store.js';
import type { StoreResolver } from './open-store.js';
import { StageError, type StageCache, type StageTreeResult } from './stage-cache.js';
import type { TarWriter } from './tar-writer.js';
import { directoryPrefix, isPlainRelativePath } from './tree-keys.js';

export interface StreamTreeOptions {
  /** File mode in the stream (0444 for read-only inputs, 0644 for writable ones). */
  mode: number;
  /** Downloads in flight. @default 24 */
  concurrency?: number;
  /** Keys per listing page. @default 1000 */
  listPageSize?: number;
  /** The listing already taken (listPrefix): the stream holds exactly these objects. */
  objects?: ObjectMeta[];
}

/** Every object under a prefix URL with the prefix (ending in `/`) it was listed under. */
export async function listPrefix(resolver: StoreResolver, srcPrefixUrl: string, listPageSize = 1000): Promise<ObjectMeta[]> {
  const { store, location } = resolver.forUrl(srcPrefixUrl);
  const prefix = directoryPrefix(location.prefix);
  const objects: ObjectMeta[] = [];
  for await (const meta of store.list(prefix, { pageSize: listPageSize })) objects.push(meta);
  return objects;
}

/** Every object under `srcPrefixUrl` (a "directory"), at its relative path in `tar`. */
export async function streamTreeFromCache(cache: StageCache, resolver: StoreResolver, srcPrefixUrl: string, tar: TarWriter, opts: StreamTreeOptions): Promise<StageTreeResult> {
  const started = Date.now();
  const { store, location } = resolver.forUrl(srcPrefixUrl);
  const prefix = directoryPrefix(location.prefix);
  const result: StageTreeResult = { files: 0, bytes: 0, hits: 0, downloaded: 0, elapsedMs: 0 };
  // Downloads run in parallel; the stream takes one file at a time, in the order they are ready.
  let writing: Promise<void> = Promise.resolve();
  await forEachConcurrent(opts.objects ?? store.list(prefix, { pageSize: opts.listPageSize ?? 1000 }), opts.concurrency ?? 24, async (meta) => {
    if (meta.key.endsWith('/')) return; // a "directory" marker object
    const rel = meta.key.slice(prefix.length);
    if (!isPlainRelativePath(rel)) {
      throw new StorageError(`refusing to stage ${store.urlFor(meta.key)}: its key does not make a plain relative path under ${srcPrefixUrl}`);
    }
    const url = store.urlFor(meta.key);
    const lease = await cache.acquire(url, meta).catch((err: Error) => {
      throw err instanceof StageError ? err : new StageError(url, rel, err);
    });
    try {
      const mine = writing.then(async () => {
        const fh = await open(lease.path, 'r');
        try {
          const st = await fh.stat();
          await tar.addFile(rel, st.size, opts.mode, fh.createReadStream({ autoClose: false, start: 0 }));
        } finally {
          await fh.close();
        }
      });
      writing = mine.catch(() => undefined); // the failure is reported by this call, below
      await mine;
    } finally {
      lease.release();
    }
    result.files++;
    result.bytes += meta.size;
    if (lease.hit) result.hits++;
    else result.downloaded++;
  });
  result.elapsedMs = Date.now() - started;
  return result;
}
