/**
 * Upload a task's output directory ($OUTDIR) to its output prefix.
 *
 * Commit rule (the caller's side of it): the agent reports a task as succeeded — and the master
 * commits it — only after `uploadOutputs` RESOLVES. Every object is verified by CRC-64 before
 * it counts. Any failure REJECTS (OutputUploadError), so the attempt fails and is retried; a
 * retried attempt overwrites the same keys. Objects uploaded before the failure may exist under
 * the prefix, but no task points at them as committed outputs: nothing is half committed.
 *
 * The uploader usually runs as root while the task's user controls $OUTDIR, so the directory
 * is read without following anything (storage/nofollow-walk.ts): only regular files and
 * directories are uploaded; a symlink, fifo or device fails the upload with a reason naming
 * it; each file is read from the descriptor that was checked, and a file that changes, shrinks
 * or vanishes meanwhile fails the attempt (retryable), never the process.
 */
import { Crc64 } from './crc64.js';
import { forEachConcurrent } from './concurrency.js';
import { OutputUploadError } from './errors.js';
import { checkUnchanged, readExactly, walkNoFollow, type OpenedFile } from './nofollow-walk.js';
import { joinKey, parseStorageUrl, StorageScheme } from './object-store.js';
import type { StoreResolver } from './open-store.js';
import type { TarWriter } from './tar-writer.js';
import type { OutputManifest, OutputManifestEntry } from '../protocol/job-data.js';

// The manifest's shape is the protocol's (it travels agent → master with the task result).
export type { OutputManifest, OutputManifestEntry };

/**
 * Where a `file://` destination is written by someone with the right to write it (the task's
 * user): a tar stream whose extraction creates the files under `destDir`; `done` resolves when
 * everything is on disk, or rejects with the writer's reason (e.g. Permission denied).
 */
export interface FileDestination {
  tar: TarWriter;
  done(): Promise<void>;
  /** Stop the writer after a failure; resolves to the writer's own error if it had failed first. */
  abort(): Promise<Error | undefined>;
}

export interface UploadOutputsOptions {
  resolver: StoreResolver;
  /** Uploads in flight. @default 8 */
  concurrency?: number;
  /** Regular files in $OUTDIR must belong to this uid (the task's user). */
  ownerUid?: number;
  /**
   * Writes `file://` destinations through another process (one running as the task's user).
   * Without it, the file store writes them from this process.
   */
  openFileDestination?: (destDir: string) => Promise<FileDestination>;
}

export async function uploadOutputs(localDir: string, destinationUrl: string, opts: UploadOutputsOptions): Promise<OutputManifest> {
  const started = Date.now();
  const location = parseStorageUrl(destinationUrl);
  const files: OutputManifestEntry[] = [];
  const failures: { path: string; error: Error }[] = [];
  const walk = walkNoFollow(localDir, opts.ownerUid === undefined ? {} : { ownerUid: opts.ownerUid });
  let upload: Uploader | undefined;
  try {
    upload =
      location.scheme === StorageScheme.File && opts.openFileDestination
        ? await throughFileDestination(opts.openFileDestination, location.prefix)
        : throughStore(opts.resolver, destinationUrl);
    const uploader = upload;
    await forEachConcurrent(walk, upload.concurrency ?? opts.concurrency ?? 8, async (file) => {
      try {
        files.push(await uploader.one(file, joinKey(location.prefix, file.rel)));
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        failures.push({ path: file.rel, error });
        throw error;
      } finally {
        await file.handle.close();
      }
    });
    await upload.finish();
  } catch (err) {
    // A writer that stopped first (e.g. Permission denied on the destination) has the real reason.
    const writerReason = await upload?.abort();
    if (writerReason) failures.splice(0, failures.length, { path: destinationUrl, error: writerReason });
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

interface Uploader {
  /** Forced parallelism (a tar stream takes one file at a time). */
  concurrency?: number;
  one(file: OpenedFile, key: string): Promise<OutputManifestEntry>;
  finish(): Promise<void>;
  /** The destination writer's own error when it failed first. */
  abort(): Promise<Error | undefined>;
}

function throughStore(resolver: StoreResolver, destinationUrl: string): Uploader {
  const { store } = resolver.forUrl(destinationUrl);
  return {
    async one(file, key) {
      // The store may read the file more than once (retries, multipart parts): it gets the
      // descriptor's own /proc link, which reopens the very inode checked, whatever its name is now.
      const meta = await store.put(key, `/proc/self/fd/${file.handle.fd}`, { size: file.stat.size });
      await checkUnchanged(file);
      const entry: OutputManifestEntry = { path: file.rel, url: store.urlFor(key), size: meta.size, etag: meta.etag };
      if (meta.crc64 !== undefined) entry.crc64 = meta.crc64;
      return entry;
    },
    finish: async () => undefined,
    abort: async () => undefined,
  };
}

async function throughFileDestination(open: (destDir: string) => Promise<FileDestination>, prefix: string): Promise<Uploader> {
  const root = '/' + prefix.replace(/^\/+/, '').replace(/\/+$/, '');
  const dest = await open(root);
  return {
    concurrency: 1,
    async one(file, key) {
      const crc = new Crc64();
      async function* hashed(): AsyncGenerator<Buffer> {
        for await (const chunk of readExactly(file)) {
          crc.update(chunk);
          yield chunk;
        }
      }
      // 0666: the writer's umask (the job's) decides, as it does for files the task creates.
      await dest.tar.addFile(file.rel, file.stat.size, 0o666, hashed());
      await checkUnchanged(file);
      const sum = crc.toString();
      // The writer is another process: its inode is not ours to stat, so the tag is the content's.
      return { path: file.rel, url: `file:///${key.replace(/^\/+/, '').replace(/%/g, '%25')}`, size: file.stat.size, crc64: sum, etag: `"crc64-${sum}"` };
    },
    async finish() {
      await dest.tar.finish();
      await dest.done();
    },
    abort: () => dest.abort(),
  };
}
