/**
 * Node-local content cache for task inputs, shared by all tasks an agent runs.
 *
 * - An entry is keyed by (url, etag, size): a changed object is a new entry, never a stale hit.
 * - Single-flight: concurrent requests for one entry wait on one download.
 * - Atomic: downloads land in a temp file and are renamed into objects/ only when complete and
 *   verified (CRC-64 by the store), so a crash never leaves a half file that looks cached.
 * - Size-bounded LRU: after each insert, least recently used entries are deleted until the
 *   total fits, skipping entries in use (leased).
 * - The directory is 0700: entries of many users' inputs are read only by the agent. The agent
 *   streams them to a task as copies (stage-stream.ts); stageObject/stageTree, which hard-link,
 *   are for a single-user caller (bench, `qfarm` tools), never for another user's task.
 * - Cache files are read-only (0444): a task writing into a hard-linked input fails instead of
 *   silently corrupting the cached copy for the next task.
 * - One StageCache per directory (one agent per node): a lock file enforces it.
 */
import { createHash } from 'node:crypto';
import { chmod, chown, mkdir, readdir, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { forEachConcurrent } from './concurrency.js';
import { lockCacheDir, unlockCacheDir } from './cache-lock.js';
import { materialise } from './materialise.js';
import { ObjectChangedError, StorageError } from './errors.js';
import type { ObjectMeta } from './object-store.js';
import type { StoreResolver } from './open-store.js';
import { destinationUnder, directoryPrefix } from './tree-keys.js';

export { StageCacheLockedError } from './cache-lock.js';

export interface StageCacheOptions {
  /** Cache directory (node-local disk). */
  dir: string;
  /** Upper bound on cached bytes; exceeded only while every entry is in use. */
  maxBytes: number;
  /** URL → store. */
  resolver: StoreResolver;
  /** Parallel transfers in stageTree. @default 24 */
  concurrency?: number;
  /** Keys per listing page in stageTree. @default 1000 */
  listPageSize?: number;
}

export interface StageOptions {
  /**
   * Give the task a private, writable copy (`:rw` inputs) instead of a read-only hard link to
   * the cached file. @default false
   */
  copy?: boolean;
  /** With `copy`: chown copies and the directories stageTree creates to the task's user. */
  owner?: { uid: number; gid: number };
}

export interface CacheLease {
  /** Path of the cached, read-only file. Valid until release(). */
  readonly path: string;
  readonly meta: ObjectMeta;
  /** True when the bytes were already cached (no transfer). */
  readonly hit: boolean;
  release(): void;
}

export interface StageTreeResult {
  files: number;
  bytes: number;
  /** Files served from the cache without a transfer. */
  hits: number;
  /** Files transferred now. */
  downloaded: number;
  elapsedMs: number;
}

export interface StageCacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  evictions: number;
  /** Background evictions (after a release) that failed, and the last reason; the agent should report these. */
  evictionErrors: number;
  lastEvictionError?: string;
}

interface Entry {
  id: string;
  size: number;
  path: string;
  refs: number;
}

export class StageError extends StorageError {
  constructor(
    readonly url: string,
    readonly dest: string,
    cause: Error,
  ) {
    super(`staging ${url} to ${dest} failed: ${cause.message}`, { cause, retryable: cause instanceof StorageError && cause.retryable });
  }
}

export class StageCache {
  /** id → entry, in LRU order (first = least recently used). */
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<Entry>>();
  private totalBytes = 0;
  private counters = { hits: 0, misses: 0, evictions: 0, evictionErrors: 0 };
  private lastEvictionError: string | undefined;
  private readonly objectsDir: string;

  private constructor(private readonly opts: StageCacheOptions) {
    this.objectsDir = join(opts.dir, 'objects');
  }

  /** Open (or create) a cache directory: takes the lock, clears leftovers of a crash, indexes entries. */
  static async open(opts: StageCacheOptions): Promise<StageCache> {
    if (!(opts.maxBytes > 0)) throw new StorageError(`stage cache maxBytes must be > 0, got ${opts.maxBytes}`);
    const cache = new StageCache(opts);
    await mkdir(cache.objectsDir, { recursive: true, mode: 0o700 });
    // Entries of every user's inputs live here: only the agent may look in (tasks get copies).
    await chmod(opts.dir, 0o700);
    await chmod(cache.objectsDir, 0o700);
    await lockCacheDir(opts.dir);
    const found: { id: string; size: number; mtime: number }[] = [];
    for (const name of await readdir(cache.objectsDir)) {
      const file = join(cache.objectsDir, name);
      if (!/^[0-9a-f]{64}$/.test(name)) {
        await rm(file, { force: true }); // a download's temp file left by a crash
        continue;
      }
      const st = await stat(file);
      if (st.mode & 0o222) await chmod(file, 0o444); // crashed between rename and chmod
      found.push({ id: name, size: st.size, mtime: st.mtimeMs });
    }
    found.sort((a, b) => a.mtime - b.mtime);
    for (const f of found) {
      cache.entries.set(f.id, { id: f.id, size: f.size, path: join(cache.objectsDir, f.id), refs: 0 });
      cache.totalBytes += f.size;
    }
    await cache.evict();
    return cache;
  }

  /** Release the lock file (the cached objects stay for the next run). */
  async close(): Promise<void> {
    await unlockCacheDir(this.opts.dir);
  }

  stats(): StageCacheStats {
    const stats: StageCacheStats = { entries: this.entries.size, bytes: this.totalBytes, ...this.counters };
    if (this.lastEvictionError !== undefined) stats.lastEvictionError = this.lastEvictionError;
    return stats;
  }

  private static entryId(url: string, etag: string, size: number): string {
    return createHash('sha256').update(`${url}\n${etag}\n${size}`).digest('hex');
  }

  /**
   * The cached file for `url`, downloading it once if needed. `meta` (from a listing) saves a
   * HEAD. The entry cannot be evicted until release().
   */
  async acquire(url: string, meta?: ObjectMeta): Promise<CacheLease> {
    const { store, location } = this.opts.resolver.forUrl(url);
    const m = meta ?? (await store.head(location.prefix));
    const id = StageCache.entryId(url, m.etag, m.size);
    let entry = this.entries.get(id);
    let hit = true;
    if (entry) {
      entry.refs++;
      this.touch(entry);
      this.counters.hits++;
    } else {
      hit = false;
      let flight = this.pending.get(id);
      if (flight) {
        this.counters.hits++; // someone else is fetching it: we wait, we do not transfer
        hit = true;
      } else {
        this.counters.misses++;
        flight = this.fetch(id, url, m).finally(() => this.pending.delete(id));
        this.pending.set(id, flight);
      }
      entry = await flight;
      entry.refs++;
      this.touch(entry);
    }
    const e = entry;
    let released = false;
    return {
      path: e.path,
      meta: m,
      hit,
      release: () => {
        if (released) return;
        released = true;
        e.refs--;
        if (e.refs === 0 && this.totalBytes > this.opts.maxBytes) {
          // release() is synchronous, so the eviction runs in the background; its failures are
          // counted in stats() rather than thrown at a caller that is not waiting.
          this.evict().catch((err: Error) => {
            this.counters.evictionErrors++;
            this.lastEvictionError = err.message;
          });
        }
      },
    };
  }

  private touch(entry: Entry): void {
    this.entries.delete(entry.id);
    this.entries.set(entry.id, entry);
  }

  private async fetch(id: string, url: string, meta: ObjectMeta): Promise<Entry> {
    const { store, location } = this.opts.resolver.forUrl(url);
    const path = join(this.objectsDir, id);
    try {
      // download() is atomic itself (temp file in objects/, verified, renamed into place).
      const got = await store.download(location.prefix, path);
      if (got.size !== meta.size) throw new ObjectChangedError(url, `size ${meta.size}`, `size ${got.size}`);
      await chmod(path, 0o444);
      const entry: Entry = { id, size: got.size, path, refs: 0 };
      this.entries.set(id, entry);
      this.totalBytes += got.size;
      // Pin while we evict others; acquire() takes its own reference right after.
      entry.refs++;
      try {
        await this.evict();
      } finally {
        entry.refs--;
      }
      return entry;
    } catch (err) {
      if (!this.entries.has(id)) await rm(path, { force: true });
      throw err;
    }
  }

  private forget(path: string): void {
    for (const entry of this.entries.values()) {
      if (entry.path === path) {
        this.entries.delete(entry.id);
        this.totalBytes -= entry.size;
        return;
      }
    }
  }

  /** Delete least recently used, unleased entries until the total fits. */
  private async evict(): Promise<void> {
    if (this.totalBytes <= this.opts.maxBytes) return;
    for (const entry of [...this.entries.values()]) {
      if (this.totalBytes <= this.opts.maxBytes) break;
      if (entry.refs > 0) continue;
      this.entries.delete(entry.id);
      this.totalBytes -= entry.size;
      this.counters.evictions++;
      await rm(entry.path, { force: true });
    }
  }

  /**
   * Put the object at `url` at `dest`: a hard link to the cached file (a copy when linking is
   * impossible, e.g. across file systems, or when `copy` is set because the task must write it).
   */
  async stageObject(url: string, dest: string, opts: StageOptions & { meta?: ObjectMeta } = {}): Promise<CacheLease> {
    await mkdir(dirname(dest), { recursive: true });
    return this.stageInto(url, dest, opts);
  }

  /** stageObject without creating the parent directory (stageTree creates each once). */
  private async stageInto(url: string, dest: string, opts: StageOptions & { meta?: ObjectMeta }, retried = false): Promise<CacheLease> {
    const lease = await this.acquire(url, opts.meta);
    try {
      try {
        await materialise(lease.path, dest, opts.copy ?? false);
        // Only copies are chowned: a hard link shares the cache entry's inode.
        if (opts.copy && opts.owner) await chown(dest, opts.owner.uid, opts.owner.gid);
      } catch (err) {
        // The cached file vanished under us (someone cleaned the cache directory): forget the
        // entry and fetch it again, once.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || retried || (await exists(lease.path))) throw err;
        this.forget(lease.path);
        lease.release();
        return await this.stageInto(url, dest, opts, true);
      }
      if (lease.hit) {
        // Persist recency so LRU order survives an agent restart (a fresh download is new already).
        const now = new Date();
        await utimes(lease.path, now, now).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      }
      return lease;
    } finally {
      lease.release();
    }
  }

  /**
   * Stage every object under `srcPrefixUrl` (treated as a directory) into `destDir`, keeping
   * relative paths. Listing is paged and transfers run `concurrency` at a time while later
   * pages are still being listed, so 10,000 small files cost ~10,000/concurrency round trips
   * of latency, not 10,000.
   */
  async stageTree(srcPrefixUrl: string, destDir: string, opts: StageOptions & { concurrency?: number } = {}): Promise<StageTreeResult> {
    const started = Date.now();
    const { store, location } = this.opts.resolver.forUrl(srcPrefixUrl);
    const prefix = directoryPrefix(location.prefix);
    const root = resolve(destDir);
    const made = new Set<string>();
    const result: StageTreeResult = { files: 0, bytes: 0, hits: 0, downloaded: 0, elapsedMs: 0 };
    const objects = store.list(prefix, { pageSize: this.opts.listPageSize ?? 1000 });
    await forEachConcurrent(objects, opts.concurrency ?? this.opts.concurrency ?? 24, async (meta) => {
      if (meta.key.endsWith('/')) return; // a "directory" marker object
      const rel = meta.key.slice(prefix.length);
      const dest = destinationUnder(root, rel);
      if (dest === null) {
        throw new StorageError(`refusing to stage ${meta.key}: it would land outside ${root}`);
      }
      const dir = dirname(dest);
      if (!made.has(dir)) {
        await mkdir(dir, { recursive: true });
        made.add(dir);
      }
      const url = store.urlFor(meta.key);
      let lease;
      try {
        lease = await this.stageInto(url, dest, { ...opts, meta });
      } catch (err) {
        throw err instanceof StageError ? err : new StageError(url, dest, err as Error);
      }
      result.files++;
      result.bytes += meta.size;
      if (lease.hit) result.hits++;
      else result.downloaded++;
    });
    if (opts.copy && opts.owner) {
      // The task may create files next to its writable inputs: hand it the directories too.
      const dirs = new Set<string>([root]);
      for (const d of made) for (let p = d; p.startsWith(root + sep); p = dirname(p)) dirs.add(p);
      for (const d of dirs) await chown(d, opts.owner.uid, opts.owner.gid);
    }
    result.elapsedMs = Date.now() - started;
    return result;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    },
  );
}
