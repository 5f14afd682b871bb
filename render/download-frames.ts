import { resolve } from 'node:path';
import { forEachConcurrent } from '../storage/concurrency.js';
import type { StoreResolver } from '../storage/open-store.js';
import { destinationUnder, directoryPrefix } from '../storage/tree-keys.js';
import { RenderError } from './errors.js';
import { TILES_DIR } from './output-layout.js';

/**
 * Brings a render job's frames home from its output location (`--download DIR`, `qfarm render
 * get`): every object under the prefix except the tiles/ the stitch job already turned into
 * frames. Same transfer path as storage/download-tree.ts (each file verified and written
 * atomically by the store), with that one filter.
 */
export interface DownloadFramesResult {
  files: number;
  bytes: number;
  elapsedMs: number;
}

export async function downloadFrames(
  outputUrl: string,
  destDir: string,
  resolver: StoreResolver,
  onFile: (relativePath: string, size: number) => void = () => {},
): Promise<DownloadFramesResult> {
  const started = Date.now();
  const { store, location } = resolver.forUrl(outputUrl);
  const prefix = directoryPrefix(location.prefix);
  const root = resolve(destDir);
  const result: DownloadFramesResult = { files: 0, bytes: 0, elapsedMs: 0 };
  await forEachConcurrent(store.list(prefix), 8, async (meta) => {
    const rel = meta.key.slice(prefix.length);
    // Tiles were stitched into frames; task logs (file:// outputs) are read with render status.
    if (meta.key.endsWith('/') || rel.startsWith(`${TILES_DIR}/`) || rel.startsWith('logs/')) return;
    const dest = destinationUnder(root, rel);
    if (dest === null) {
      throw new RenderError(`refusing to download ${store.urlFor(meta.key)}: it would land outside ${root}`);
    }
    const got = await store.download(meta.key, dest);
    result.files++;
    result.bytes += got.size;
    onFile(rel, got.size);
  });
  result.elapsedMs = Date.now() - started;
  return result;
}
