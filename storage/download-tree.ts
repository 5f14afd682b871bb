/**
 * Download every object under a prefix into a local directory, in parallel, each file verified
 * and written atomically (what `qfarm get JOB DIR` needs; no node cache involved).
 */
import { resolve, sep } from 'node:path';
import { forEachConcurrent } from './concurrency.js';
import { StorageError } from './errors.js';
import type { StoreResolver } from './open-store.js';

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
  const prefix = location.prefix === '' || location.prefix.endsWith('/') ? location.prefix : `${location.prefix}/`;
  const root = resolve(destDir);
  const result: DownloadTreeResult = { files: 0, bytes: 0, elapsedMs: 0 };
  await forEachConcurrent(store.list(prefix), opts.concurrency ?? 16, async (meta) => {
    if (meta.key.endsWith('/')) return;
    const rel = meta.key.slice(prefix.length);
    const dest = resolve(root, rel);
    // Keys are remote input: never let one write outside the destination.
    if (!dest.startsWith(root + sep) || rel.split('/').includes('..')) {
      throw new StorageError(`refusing to download ${store.urlFor(meta.key)}: it would land outside ${root}`);
    }
    const got = await store.download(meta.key, dest);
    result.files++;
    result.bytes += got.size;
    opts.onFile?.(rel, got.size);
  });
  result.elapsedMs = Date.now() - started;
  return result;
}
