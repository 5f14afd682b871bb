/**
 * Upload a task's output directory ($OUTDIR) to its output prefix.
 *
 * Commit rule (the caller's side of it): the agent reports a task as succeeded — and the master
 * commits it — only after `uploadOutputs` RESOLVES. Every object is verified by CRC-64 before
 * it counts. Any failure REJECTS (OutputUploadError), so the attempt fails and is retried; a
 * retried attempt overwrites the same keys. Objects uploaded before the failure may exist under
 * the prefix, but no task points at them as committed outputs: nothing is half committed.
 *
 * Regular files are uploaded (symlinks to regular files by their content); directories are
 * walked; symlinked directories and special files are skipped so a link cannot loop or leak
 * files from outside $OUTDIR.
 */
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { forEachConcurrent } from './concurrency.js';
import { OutputUploadError } from './errors.js';
import { joinKey } from './object-store.js';
import type { StoreResolver } from './open-store.js';
import type { OutputManifest, OutputManifestEntry } from '../protocol/job-data.js';

// The manifest's shape is the protocol's (it travels agent → master with the task result).
export type { OutputManifest, OutputManifestEntry };

export interface UploadOutputsOptions {
  resolver: StoreResolver;
  /** Uploads in flight. @default 8 */
  concurrency?: number;
}

/**
 * Regular files under `dir`, as absolute paths. A symlink to a file counts only when the file is
 * inside `root`, otherwise the upload fails: the uploader usually runs as root while the task that wrote the
 * directory does not, so a link to /root/.ssh/id_rsa must not carry that file to the job's bucket.
 */
async function* walkFiles(dir: string, root: string): AsyncGenerator<string> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      yield* walkFiles(path, root);
    } else if (e.isFile()) {
      yield path;
    } else if (e.isSymbolicLink()) {
      // Links to directories are never followed (they could loop or pull in a whole tree).
      const target = await stat(path).catch(() => undefined);
      if (!target?.isFile()) continue;
      const real = await realpath(path);
      if (!real.startsWith(root + sep)) {
        throw new Error(`${relative(root, path)} is a symbolic link to ${real}, outside the output directory: refusing to upload it`);
      }
      yield path;
    }
  }
}

export async function uploadOutputs(localDir: string, destinationUrl: string, opts: UploadOutputsOptions): Promise<OutputManifest> {
  const started = Date.now();
  const { store, location } = opts.resolver.forUrl(destinationUrl);
  const st = await lstat(localDir);
  if (!st.isDirectory()) throw new OutputUploadError(destinationUrl, [{ path: localDir, error: new Error('not a directory') }], 0);
  const files: OutputManifestEntry[] = [];
  const failures: { path: string; error: Error }[] = [];
  try {
    await forEachConcurrent(walkFiles(localDir, await realpath(localDir)), opts.concurrency ?? 8, async (path) => {
      const rel = relative(localDir, path).split(sep).join('/');
      const key = joinKey(location.prefix, rel);
      try {
        const meta = await store.put(key, path);
        const entry: OutputManifestEntry = { path: rel, url: store.urlFor(key), size: meta.size, etag: meta.etag };
        if (meta.crc64 !== undefined) entry.crc64 = meta.crc64;
        files.push(entry);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        failures.push({ path: rel, error });
        throw error;
      }
    });
  } catch (err) {
    if (failures.length === 0) failures.push({ path: localDir, error: err instanceof Error ? err : new Error(String(err)) });
    throw new OutputUploadError(destinationUrl, failures, files.length);
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    destination: destinationUrl,
    files,
    totalBytes: files.reduce((n, f) => n + f.size, 0),
    elapsedMs: Date.now() - started,
  };
}
