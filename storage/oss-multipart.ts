/// <reference path="./ali-oss.d.ts" />
/**
 * Multipart uploads that survive failures and crashes: the checkpoint (uploadId and finished
 * parts) is persisted after every part, so a later try, even by a new process, resumes where
 * the last one stopped instead of sending finished parts again.
 */
import type OSS from 'ali-oss';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { retry } from '../retry/retry.js';
import { Crc64, parseCrc64Header } from './crc64.js';
import { CrcMismatchError, OssRequestError } from './errors.js';
import type { ObjectMeta } from './object-store.js';
import { isAliOssError } from './oss-error-map.js';
import { mimeOption, type OssSession } from './oss-session.js';

/** The file to upload, as stat() saw it: a changed size or mtime is a different upload. */
export interface LocalFile {
  path: string;
  size: number;
  mtimeMs: number;
}

export interface MultipartOptions {
  partSize: number;
  /** Parts in flight. */
  parallel: number;
  /** Where checkpoints persist between runs. @default $TMPDIR/qfarm-oss-checkpoints */
  checkpointDir: string | undefined;
}

/**
 * Multipart upload that survives failures and crashes: the checkpoint (uploadId + finished
 * parts) is written to a file after every part; a later call for the same (key, file, size,
 * mtime) resumes it. The whole-object CRC-64 from CompleteMultipartUpload is checked against
 * one computed locally while the parts go up.
 */
export async function putMultipart(session: OssSession, key: string, file: LocalFile, ct: string | undefined, opts: MultipartOptions): Promise<ObjectMeta> {
  const { path, size } = file;
  const cpFile = checkpointPath(session, key, file, opts.checkpointDir);
  await mkdir(dirname(cpFile), { recursive: true });
  const localCrc = crcOfFile(path);
  localCrc.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
  let checkpoint: OSS.Checkpoint | undefined = await loadCheckpoint(cpFile, path, size);
  let writes = Promise.resolve();
  const persist = (cp: OSS.Checkpoint) => {
    const snapshot = JSON.stringify(cp);
    writes = writes.then(async () => {
      const tmp = `${cpFile}.${randomBytes(4).toString('hex')}`;
      await writeFile(tmp, snapshot);
      await rename(tmp, cpFile);
    });
    return writes;
  };
  const restartFresh = async () => {
    // The upload id is unusable (aborted, expired, or holds a bad part): a new upload next try.
    // The old one is left for OSS's lifecycle rule to abort: ali-oss's abort would also cancel
    // every other upload running on this shared client.
    checkpoint = undefined;
    await writes.catch(() => undefined);
    await rm(cpFile, { force: true });
  };
  const result = await retry(async () => {
    const client = await session.client();
    // Each attempt works on its own copy of the checkpoint. ali-oss lets parts that were in
    // flight when a sibling failed run on after multipartUpload rejects; their late progress
    // calls carry the previous attempt's object and are ignored, so they cannot rewrite the
    // checkpoint behind the retry's back.
    let current: OSS.Checkpoint | undefined = checkpoint ? (JSON.parse(JSON.stringify(checkpoint)) as OSS.Checkpoint) : undefined;
    try {
      const r = await client.multipartUpload(key, path, {
        partSize: opts.partSize,
        parallel: opts.parallel,
        timeout: session.uploadTimeoutMs(opts.partSize),
        ...mimeOption(ct),
        ...(current ? { checkpoint: current } : {}),
        progress: async (_p, cp) => {
          if (!cp) return;
          if (current === undefined) current = cp; // a fresh upload: ali-oss made the object
          if (cp !== current) return;
          checkpoint = cp;
          await persist(cp);
        },
      });
      await writes;
      const local = await localCrc;
      const remote = parseCrc64Header(r.res.headers['x-oss-hash-crc64ecma']);
      if (remote !== undefined && remote !== local) {
        // The stored object is wrong; its parts are consumed. Start over.
        await restartFresh();
        throw new CrcMismatchError(session.urlFor(key), 'upload', local, remote);
      }
      return { r, local, remote };
    } catch (err) {
      await writes.catch(() => undefined);
      if (err instanceof CrcMismatchError) throw err;
      const mapped = session.mapError(err, 'MultipartUpload', key);
      const code = mapped instanceof OssRequestError ? mapped.code : '';
      if ((isAliOssError(err) && err.status === 404) || (err as Error).name === 'abort' || ['NoSuchUpload', 'InvalidPart', 'InvalidPartOrder'].includes(code)) {
        await restartFresh();
        throw new OssRequestError('MultipartUpload', session.urlFor(key), 0, code || 'NoSuchUpload', undefined, `the multipart upload cannot be completed (${mapped.message}); starting a new one`, true);
      }
      throw mapped;
    }
  }, session.policy, { operation: `OSS multipart upload ${session.urlFor(key)}`, isRetryable: session.isRetryable, onRetry: session.beforeRetry });
  await rm(cpFile, { force: true });
  if (result.remote === undefined) {
    const meta = await session.head(key);
    if (meta.crc64 !== undefined && meta.crc64 !== result.local) throw new CrcMismatchError(session.urlFor(key), 'upload', result.local, meta.crc64);
    return meta;
  }
  return { key, size, etag: result.r.etag ?? result.r.res.headers.etag ?? '', crc64: result.remote, lastModified: new Date() };
}

/** One checkpoint file per (endpoint, bucket, key, file, size, mtime). */
function checkpointPath(session: OssSession, key: string, file: LocalFile, checkpointDir: string | undefined): string {
  const dir = checkpointDir ?? join(tmpdir(), 'qfarm-oss-checkpoints');
  const id = createHash('sha256').update(`${session.endpointUrl()}\n${session.bucket}\n${key}\n${file.path}\n${file.size}\n${file.mtimeMs}`).digest('hex');
  return join(dir, `${id}.json`);
}

async function crcOfFile(path: string): Promise<string> {
  const crc = new Crc64();
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) crc.update(chunk as Buffer);
  return crc.toString();
}

async function loadCheckpoint(file: string, path: string, size: number): Promise<OSS.Checkpoint | undefined> {
  try {
    const cp = JSON.parse(await readFile(file, 'utf8')) as OSS.Checkpoint;
    if (cp.file === path && cp.fileSize === size && cp.uploadId && Array.isArray(cp.doneParts)) return cp;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      // A torn or foreign checkpoint: ignore it and start a new upload.
      await rm(file, { force: true });
    }
  }
  return undefined;
}
