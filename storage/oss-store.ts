/// <reference path="./ali-oss.d.ts" />
/**
 * `oss://` adapter on ali-oss.
 *
 * What ali-oss does not do and qfarm adds:
 * - retries with exponential backoff + jitter on 5xx, resets, timeouts (ali-oss retries only
 *   network errors, only when asked, never streams): retry/, here;
 * - CRC-64 verification of every upload (computed here while streaming, compared with
 *   `x-oss-hash-crc64ecma`) and of every full download;
 * - downloads that resume with `Range` + `If-Match` after a reset instead of starting over
 *   (oss-ranged-read.ts);
 * - multipart uploads whose checkpoint is persisted to a file after every part, so a crashed or
 *   failed upload resumes where it stopped (same uploadId, finished parts not sent again)
 *   (oss-multipart.ts);
 * - clock-skew correction on RequestTimeTooSkewed, here;
 * - errors that name the bucket, key and AccessKeyId (never the secret) and say what to do
 *   (oss-error-map.ts).
 */
import OSS from 'ali-oss';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { retry } from '../retry/retry.js';
import { compileRetryPolicy, type RetryPolicy } from '../retry/retry-policy.js';
import { Crc64, parseCrc64Header } from './crc64.js';
import { CrcMismatchError, OssRequestError, StorageError } from './errors.js';
import {
  formatStorageUrl,
  StorageScheme,
  type ListOptions,
  type ObjectMeta,
  type ObjectStore,
  type PutOptions,
} from './object-store.js';
import type { CredentialsProvider, OssCredentials } from './oss-credentials.js';
import { mapOssError } from './oss-error-map.js';
import { putMultipart } from './oss-multipart.js';
import { downloadInRanges, openVerifiedRead } from './oss-ranged-read.js';
import { metaFromHeaders, mimeOption, type OssSession } from './oss-session.js';

export interface OssStoreOptions {
  bucket: string;
  credentials: CredentialsProvider;
  /** Full endpoint URL, e.g. https://oss-cn-hangzhou.aliyuncs.com or http://127.0.0.1:PORT. Env QFARM_OSS_ENDPOINT. */
  endpoint?: string;
  /** Region, `cn-hangzhou` or `oss-cn-hangzhou`; used when no endpoint is given, and for V4 signing. @default cn-hangzhou */
  region?: string;
  /** Use `oss-<region>-internal.aliyuncs.com` (inside a VPC: free traffic). @default false */
  internal?: boolean;
  /** HTTPS for region-derived endpoints. @default true */
  secure?: boolean;
  /** Sign with OSS4-HMAC-SHA256 instead of V1. @default false */
  authorizationV4?: boolean;
  /** Path-style URLs (`/bucket/key`) instead of virtual-hosted. @default false */
  pathStyle?: boolean;
  /** Per-request timeout (ali-oss `timeout`; for bodies, the idle time between chunks). @default 60000 */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Files at least this big go up in parts. @default 64 MiB */
  multipartThreshold?: number;
  /** Part size (OSS: ≥ 100 KiB, ≤ 10,000 parts; ali-oss raises it when needed). @default 8 MiB */
  partSize?: number;
  /** Parts in flight per upload. @default 4 */
  parallel?: number;
  /** download(): objects bigger than this are fetched in ranges of this size. @default 16 MiB */
  downloadPartSize?: number;
  /** download(): ranges in flight per object. @default 4 */
  downloadParallel?: number;
  /** Where multipart checkpoints persist between runs. @default $TMPDIR/qfarm-oss-checkpoints */
  checkpointDir?: string;
  /** Streams up to this size are buffered in memory (and get a Content-MD5); larger ones are spooled to a temp file. @default 8 MiB */
  memoryBufferLimit?: number;
}

export class OssStore implements ObjectStore {
  readonly scheme = StorageScheme.Oss;
  readonly bucket: string;
  private readonly opts: OssStoreOptions;
  /** What the ranged reads and multipart uploads use of this store. */
  private readonly session: OssSession;
  private clientPromise: Promise<OSS> | undefined;
  private clockOffsetMs = 0;
  private currentKeyId = '';

  constructor(opts: OssStoreOptions) {
    this.opts = { ...opts };
    this.bucket = opts.bucket;
    const policy = compileRetryPolicy(opts.retry);
    this.session = {
      bucket: this.bucket,
      policy,
      urlFor: (key) => this.urlFor(key),
      endpointUrl: () => this.endpointUrl(),
      client: () => this.client(),
      head: (key) => this.head(key),
      mapError: (err, operation, key) => this.mapError(err, operation, key),
      isRetryable: (err) => err instanceof StorageError && err.retryable,
      beforeRetry: (err) => this.learnClockAfterSkew(err),
      timeoutMs: () => this.opts.timeoutMs ?? 60_000,
      // urllib's response timer starts when the socket connects, so for an upload it covers
      // sending the body too: the base timeout plus one second per MiB (a floor of 1 MiB/s).
      uploadTimeoutMs: (bytes) => this.session.timeoutMs() + Math.ceil(bytes / (1024 * 1024)) * 1000,
    };
  }

  urlFor(key: string): string {
    return formatStorageUrl(this.scheme, this.bucket, key);
  }

  /** Resolved endpoint URL (for messages and clock checks). */
  endpointUrl(): string {
    if (this.opts.endpoint) return this.opts.endpoint.replace(/\/+$/, '');
    const region = this.region();
    const proto = this.opts.secure === false ? 'http' : 'https';
    return `${proto}://oss-${region}${this.opts.internal ? '-internal' : ''}.aliyuncs.com`;
  }

  /**
   * Region id for endpoints and V4 signing: the configured one, else read from an
   * `oss-<region>[-internal].aliyuncs.com` endpoint, else cn-hangzhou (what ali-oss assumes).
   */
  region(): string {
    if (this.opts.region) return regionId(this.opts.region);
    const m = this.opts.endpoint ? /^(?:https?:\/\/)?oss-([a-z0-9-]+?)(?:-internal)?\.aliyuncs\.com/.exec(this.opts.endpoint) : null;
    return m ? m[1]! : 'cn-hangzhou';
  }

  // ---- client and credentials ----------------------------------------------------------------

  private async client(): Promise<OSS> {
    this.clientPromise ??= (async () => {
      const creds = await this.opts.credentials.get();
      const region = `oss-${this.region()}`;
      const options: OSS.Options = {
        accessKeyId: creds.accessKeyId,
        accessKeySecret: creds.accessKeySecret,
        bucket: this.bucket,
        region,
        endpoint: this.endpointUrl(),
        timeout: this.opts.timeoutMs ?? 60_000,
        retryMax: 0, // we retry ourselves, with backoff and for 5xx too
        authorizationV4: this.opts.authorizationV4 ?? false,
        sldEnable: this.opts.pathStyle ?? false,
      };
      if (creds.securityToken) {
        options.stsToken = creds.securityToken;
        options.refreshSTSToken = async () => stsFor(await this.opts.credentials.get());
        options.refreshSTSTokenInterval = 5 * 60_000;
      }
      this.currentKeyId = creds.accessKeyId;
      return new OSS(options);
    })().catch((err) => {
      this.clientPromise = undefined;
      throw err;
    });
    const client = await this.clientPromise;
    // Temporary credentials rotate; keep the client's copy current before every call.
    const creds = await this.opts.credentials.get();
    if (creds.accessKeyId !== client.options.accessKeyId || creds.accessKeySecret !== client.options.accessKeySecret) {
      client.options.accessKeyId = creds.accessKeyId;
      client.options.accessKeySecret = creds.accessKeySecret;
    }
    if (creds.securityToken && creds.securityToken !== client.options.stsToken) client.options.stsToken = creds.securityToken;
    this.currentKeyId = creds.accessKeyId;
    if (this.clockOffsetMs) client.options.amendTimeSkewed = this.clockOffsetMs;
    return client;
  }

  // ---- error mapping and retry -----------------------------------------------------------------

  /** Turn an ali-oss error into one of ours; names bucket/key/AccessKeyId, never the secret. */
  private mapError(err: unknown, operation: string, key: string): Error {
    const url = key ? this.urlFor(key) : `oss://${this.bucket}/`;
    return mapOssError(err, operation, { bucket: this.bucket, url, accessKeyId: this.currentKeyId, endpointUrl: this.endpointUrl() });
  }

  /** On RequestTimeTooSkewed, learn OSS's clock from its Date header and sign with it from now on. */
  private async learnClockAfterSkew(err: unknown): Promise<void> {
    if (err instanceof OssRequestError && err.code === 'RequestTimeTooSkewed') {
      try {
        const res = await fetch(this.endpointUrl() + '/', { method: 'HEAD', signal: AbortSignal.timeout(5000) });
        const date = res.headers.get('date');
        if (date && Number.isFinite(Date.parse(date))) this.clockOffsetMs = Date.parse(date) - Date.now();
      } catch {
        // Could not reach OSS to read its clock; the retry will report the skew again.
      }
    }
  }

  private run<T>(operation: string, key: string, fn: (client: OSS, attempt: number) => Promise<T>): Promise<T> {
    return retry(
      async (attempt) => {
        try {
          return await fn(await this.client(), attempt);
        } catch (err) {
          throw this.mapError(err, operation, key);
        }
      },
      this.session.policy,
      { operation: `OSS ${operation} ${key ? this.urlFor(key) : `oss://${this.bucket}/`}`, isRetryable: this.session.isRetryable, onRetry: this.session.beforeRetry },
    );
  }

  // ---- ObjectStore -----------------------------------------------------------------------------

  async *list(prefix: string, opts: ListOptions = {}): AsyncIterable<ObjectMeta> {
    const pageSize = Math.max(1, Math.min(1000, opts.pageSize ?? 1000));
    let token: string | null = null;
    do {
      const query: Record<string, string | number> = { 'max-keys': String(pageSize) };
      // Never send empty values: ali-oss's V4 signer and the wire would disagree on `prefix=`.
      if (prefix) query.prefix = prefix;
      if (token) query['continuation-token'] = token;
      const page: OSS.ListV2Result = await this.run('ListObjectsV2', '', (c) => c.listV2({ ...query }, { timeout: this.session.timeoutMs() }));
      for (const o of page.objects) {
        yield { key: o.name, size: Number(o.size), etag: o.etag, lastModified: new Date(o.lastModified) };
      }
      token = page.isTruncated ? page.nextContinuationToken : null;
    } while (token);
  }

  async head(key: string): Promise<ObjectMeta> {
    const r = await this.run('HeadObject', key, (c) => c.head(key, { timeout: this.session.timeoutMs() }));
    return metaFromHeaders(key, r.res.headers);
  }

  async get(key: string): Promise<Readable> {
    return openVerifiedRead(this.session, key, { key, size: -1, etag: '', lastModified: new Date(0) });
  }

  /**
   * Download to `path` atomically, objects bigger than `downloadPartSize` in parallel ranges
   * (storage/oss-ranged-read.ts).
   */
  download(key: string, path: string): Promise<ObjectMeta> {
    return downloadInRanges(this.session, key, path, { partSize: this.opts.downloadPartSize ?? 16 * 1024 * 1024, parallel: this.opts.downloadParallel ?? 4 });
  }

  async put(key: string, source: Readable | string, opts: PutOptions = {}): Promise<ObjectMeta> {
    const ct = opts.contentType;
    if (typeof source === 'string') return this.putFile(key, source, ct);
    // A stream can be read once; to retry we need the bytes again: memory when small, a temp file when large.
    const limit = this.opts.memoryBufferLimit ?? 8 * 1024 * 1024;
    if (opts.size !== undefined && opts.size > limit) return this.putViaTempFile(key, source, [], ct);
    const chunks: Buffer[] = [];
    let total = 0;
    const it = source[Symbol.asyncIterator]();
    for (;;) {
      const n = await it.next();
      if (n.done) break;
      const b = Buffer.isBuffer(n.value) ? n.value : Buffer.from(n.value as Uint8Array);
      chunks.push(b);
      total += b.length;
      if (total > limit) return this.putViaTempFile(key, Readable.from(iterRest(it)), chunks, ct);
    }
    return this.putBuffer(key, Buffer.concat(chunks), ct);
  }

  private async putViaTempFile(key: string, rest: Readable, head: Buffer[], ct: string | undefined): Promise<ObjectMeta> {
    const dir = join(tmpdir(), 'qfarm-oss-spool');
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, randomBytes(8).toString('hex'));
    try {
      const out = createWriteStream(tmp, { flags: 'wx' });
      const pass = new PassThrough();
      for (const b of head) pass.write(b);
      rest.pipe(pass);
      rest.on('error', (e) => pass.destroy(e));
      await pipeline(pass, out);
      return await this.putFile(key, tmp, ct);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  private async putBuffer(key: string, body: Buffer, ct: string | undefined): Promise<ObjectMeta> {
    const local = new Crc64().update(body).toString();
    return this.run('PutObject', key, async (c) => {
      // A Buffer body carries Content-MD5, which OSS checks too.
      const r = await c.put(key, body, { timeout: this.session.uploadTimeoutMs(body.length), ...mimeOption(ct) });
      return this.verifyUpload(key, r.res.headers, local, body.length);
    });
  }

  private async putFile(key: string, path: string, ct: string | undefined): Promise<ObjectMeta> {
    const st = await stat(path);
    if (!st.isFile()) throw new StorageError(`cannot upload ${path} to ${this.urlFor(key)}: not a regular file`);
    if (st.size >= (this.opts.multipartThreshold ?? 64 * 1024 * 1024)) {
      const parts = { partSize: this.opts.partSize ?? 8 * 1024 * 1024, parallel: this.opts.parallel ?? 4, checkpointDir: this.opts.checkpointDir };
      return putMultipart(this.session, key, { path, size: st.size, mtimeMs: st.mtimeMs }, ct, parts);
    }
    if (st.size <= 4 * 1024 * 1024) return this.putBuffer(key, await readFile(path), ct);
    return this.run('PutObject', key, async (c) => {
      const crc = new Crc64();
      const hashing = new Transform({
        transform(chunk: Buffer, _e, cb) {
          crc.update(chunk);
          cb(null, chunk);
        },
      });
      const source = createReadStream(path);
      // pipe() does not forward errors: without this a read error would be an uncaught exception.
      source.on('error', (err) => hashing.destroy(err));
      const body = source.pipe(hashing);
      const r = await c.putStream(key, body, { contentLength: st.size, timeout: this.session.uploadTimeoutMs(st.size), ...mimeOption(ct) });
      return this.verifyUpload(key, r.res.headers, crc.toString(), st.size);
    });
  }

  /** Compare our CRC with OSS's; if OSS sent none (a proxy ate it), ask with HEAD. */
  private async verifyUpload(key: string, headers: Record<string, string | undefined>, local: string, size: number): Promise<ObjectMeta> {
    let remote = parseCrc64Header(headers['x-oss-hash-crc64ecma']);
    let meta: ObjectMeta | undefined;
    if (remote === undefined) {
      meta = await this.head(key);
      remote = meta.crc64;
    }
    if (remote === undefined) {
      throw new StorageError(`cannot verify upload of ${this.urlFor(key)}: OSS returned no x-oss-hash-crc64ecma`);
    }
    if (remote !== local) throw new CrcMismatchError(this.urlFor(key), 'upload', local, remote);
    return meta ?? { key, size, etag: headers.etag ?? '', crc64: remote, lastModified: new Date(headers.date ?? Date.now()) };
  }

  async delete(key: string): Promise<void> {
    await this.run('DeleteObject', key, (c) => c.delete(key, { timeout: this.session.timeoutMs() }));
  }
}

/** `oss-cn-hangzhou` or `cn-hangzhou` → `cn-hangzhou`. */
function regionId(region: string): string {
  return region.replace(/^oss-/, '').replace(/-internal$/, '');
}

function stsFor(c: OssCredentials): { accessKeyId: string; accessKeySecret: string; stsToken: string } {
  return { accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret, stsToken: c.securityToken ?? '' };
}

async function* iterRest(it: AsyncIterator<unknown>): AsyncGenerator<Buffer> {
  for (;;) {
    const n = await it.next();
    if (n.done) return;
    yield Buffer.isBuffer(n.value) ? n.value : Buffer.from(n.value as Uint8Array);
  }
}
