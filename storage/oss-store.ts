/// <reference path="./ali-oss.d.ts" />
/**
 * `oss://` adapter on ali-oss.
 *
 * What ali-oss does not do and this file adds:
 * - retries with exponential backoff + jitter on 5xx, resets, timeouts (ali-oss retries only
 *   network errors, only when asked, never streams);
 * - CRC-64 verification of every upload (computed here while streaming, compared with
 *   `x-oss-hash-crc64ecma`) and of every full download;
 * - downloads that resume with `Range` + `If-Match` after a reset instead of starting over;
 * - multipart uploads whose checkpoint is persisted to a file after every part, so a crashed or
 *   failed upload resumes where it stopped (same uploadId, finished parts not sent again);
 * - clock-skew correction on RequestTimeTooSkewed;
 * - errors that name the bucket, key and AccessKeyId (never the secret) and say what to do.
 */
import OSS from 'ali-oss';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { combineCrc64, Crc64, parseCrc64Header } from './crc64.js';
import { forEachConcurrent } from './concurrency.js';
import {
  CrcMismatchError,
  ObjectChangedError,
  ObjectNotFoundError,
  OssAuthError,
  OssRequestError,
  StorageError,
} from './errors.js';
import {
  formatStorageUrl,
  StorageScheme,
  type ListOptions,
  type ObjectMeta,
  type ObjectStore,
  type PutOptions,
} from './object-store.js';
import type { CredentialsProvider, OssCredentials } from './oss-credentials.js';
import { retry, RetriesExhaustedError, sleepMs } from '../retry/retry.js';
import { compileRetryPolicy, delayFor, type CompiledRetryPolicy, type RetryPolicy } from '../retry/retry-policy.js';

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

const NETWORK_NAMES = new Set([
  'ConnectionTimeoutError',
  'ResponseTimeoutError',
  'RequestError',
  'ResponseError',
  'SocketAssignTimeoutError',
  'ConnectionResetError',
]);

/** ali-oss's error object, as far as we read it. */
interface AliOssError extends Error {
  status?: number;
  code?: string;
  requestId?: string;
}

function isAliOssError(err: unknown): err is AliOssError {
  return err instanceof Error && ('status' in err || 'code' in err || NETWORK_NAMES.has(err.name));
}



export class OssStore implements ObjectStore {
  readonly scheme = StorageScheme.Oss;
  readonly bucket: string;
  private readonly policy: CompiledRetryPolicy;
  private readonly opts: OssStoreOptions;
  private clientPromise: Promise<OSS> | undefined;
  private clockOffsetMs = 0;
  private currentKeyId = '';

  constructor(opts: OssStoreOptions) {
    this.opts = { ...opts };
    this.bucket = opts.bucket;
    this.policy = compileRetryPolicy(opts.retry);
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
    if (err instanceof StorageError) return err;
    if (!isAliOssError(err)) return err instanceof Error ? err : new Error(String(err));
    const url = key ? this.urlFor(key) : `oss://${this.bucket}/`;
    const code = err.code ?? err.name.replace(/Error$/, '');
    const status = err.status ?? (NETWORK_NAMES.has(err.name) ? -2 : 0);
    const id = this.currentKeyId;
    const requestId = err.requestId;
    switch (code) {
      case 'SignatureDoesNotMatch':
        return new OssAuthError(
          `OSS rejected the signature for bucket "${this.bucket}" with AccessKeyId "${id}": check ALIBABA_CLOUD_ACCESS_KEY_SECRET (SignatureDoesNotMatch)`,
          this.bucket, id, code, requestId,
        );
      case 'InvalidAccessKeyId':
        return new OssAuthError(
          `OSS does not know AccessKeyId "${id}" (bucket "${this.bucket}"): check ALIBABA_CLOUD_ACCESS_KEY_ID (InvalidAccessKeyId)`,
          this.bucket, id, code, requestId,
        );
      case 'AccessDenied':
        return new OssAuthError(
          `OSS denied ${operation} on ${url} to AccessKeyId "${id}": grant it access to bucket "${this.bucket}" in its RAM policy (AccessDenied)`,
          this.bucket, id, code, requestId,
        );
      case 'InvalidSecurityToken':
      case 'SecurityTokenExpired':
        return new OssAuthError(
          `OSS rejected the security token of AccessKeyId "${id}" for bucket "${this.bucket}": check ALIBABA_CLOUD_SECURITY_TOKEN or the instance's RAM role (${code})`,
          this.bucket, id, code, requestId,
        );
      case 'NoSuchKey':
        return new ObjectNotFoundError(url);
      case 'NoSuchBucket':
        return new OssRequestError(operation, url, status, code, requestId,
          `bucket "${this.bucket}" does not exist at ${this.endpointUrl()} (check the oss:// URL, region and QFARM_OSS_ENDPOINT)`, false);
      case 'RequestTimeTooSkewed':
        return new OssRequestError(operation, url, status, code, requestId,
          `this machine's clock differs from OSS's by more than 15 minutes (sync it with NTP)`, true);
    }
    const network = status === -1 || status === -2 || NETWORK_NAMES.has(err.name) || /^E[A-Z]+$/.test(code);
    // InvalidDigest: OSS received different bytes than we hashed, i.e. corrupted in transit.
    const retryable = network || status >= 500 || code === 'RequestTimeout' || code === 'InvalidDigest';
    return new OssRequestError(operation, url, status, code, requestId, err.message, retryable);
  }

  private isRetryable = (err: unknown): boolean => err instanceof StorageError && err.retryable;

  /** On RequestTimeTooSkewed, learn OSS's clock from its Date header and sign with it from now on. */
  private beforeRetry = async (err: unknown): Promise<void> => {
    if (err instanceof OssRequestError && err.code === 'RequestTimeTooSkewed') {
      try {
        const res = await fetch(this.endpointUrl() + '/', { method: 'HEAD', signal: AbortSignal.timeout(5000) });
        const date = res.headers.get('date');
        if (date && Number.isFinite(Date.parse(date))) this.clockOffsetMs = Date.parse(date) - Date.now();
      } catch {
        // Could not reach OSS to read its clock; the retry will report the skew again.
      }
    }
  };

  private run<T>(operation: string, key: string, fn: (client: OSS, attempt: number) => Promise<T>): Promise<T> {
    return retry(
      async (attempt) => {
        try {
          return await fn(await this.client(), attempt);
        } catch (err) {
          throw this.mapError(err, operation, key);
        }
      },
      this.policy,
      { operation: `OSS ${operation} ${key ? this.urlFor(key) : `oss://${this.bucket}/`}`, isRetryable: this.isRetryable, onRetry: this.beforeRetry },
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
      const page: OSS.ListV2Result = await this.run('ListObjectsV2', '', (c) => c.listV2({ ...query }, { timeout: this.timeout() }));
      for (const o of page.objects) {
        yield { key: o.name, size: Number(o.size), etag: o.etag, lastModified: new Date(o.lastModified) };
      }
      token = page.isTruncated ? page.nextContinuationToken : null;
    } while (token);
  }

  async head(key: string): Promise<ObjectMeta> {
    const r = await this.run('HeadObject', key, (c) => c.head(key, { timeout: this.timeout() }));
    return metaFromHeaders(key, r.res.headers);
  }

  async get(key: string): Promise<Readable> {
    return this.openRead(key, { key, size: -1, etag: '', lastModified: new Date(0) });
  }

  /** get() that also fills `info` from the first response's headers (saves a HEAD). */
  private async openRead(key: string, info: ObjectMeta): Promise<Readable> {
    // The first response (or its error) arrives before we hand out the stream, so a missing
    // key or a bad secret rejects here rather than surfacing as a stream error.
    const iterator = this.readResumable(key, info)[Symbol.asyncIterator]();
    const first = await iterator.next();
    async function* rest(): AsyncGenerator<Buffer> {
      if (first.done) return;
      yield first.value;
      for (;;) {
        const n = await iterator.next();
        if (n.done) return;
        yield n.value;
      }
    }
    return Readable.from(rest(), { objectMode: false });
  }

  /**
   * The object's bytes, verified: the CRC-64 of everything read is compared with OSS's at the
   * end, and a mismatch fails the stream instead of ending it cleanly.
   */
  private async *readResumable(key: string, info: ObjectMeta): AsyncGenerator<Buffer> {
    let remoteCrc: string | undefined;
    const crc = new Crc64();
    const onFirst = (h: Record<string, string | undefined>) => {
      remoteCrc = parseCrc64Header(h['x-oss-hash-crc64ecma']);
      Object.assign(info, metaFromHeaders(key, h));
    };
    for await (const buf of this.readRange(key, 0, undefined, undefined, onFirst)) {
      crc.update(buf);
      yield buf;
    }
    if (remoteCrc !== undefined && crc.toString() !== remoteCrc) {
      throw new CrcMismatchError(this.urlFor(key), 'download', crc.toString(), remoteCrc);
    }
  }

  /**
   * Bytes [from, to] of an object (to the end when `to` is undefined). After a reset or an idle
   * timeout it re-requests only the rest, with `If-Match: <etag>` so all pieces come from one
   * version of the object. `onFirst` sees the first response's headers (ETag, CRC, size).
   */
  private async *readRange(
    key: string,
    from: number,
    to: number | undefined,
    knownEtag: string | undefined,
    onFirst: (headers: Record<string, string | undefined>, status: number) => void,
  ): AsyncGenerator<Buffer> {
    let offset = from;
    let etag = knownEtag;
    let end = -2; // inclusive end we expect to reach; learnt from the first response
    let seenFirst = false;
    for (let attempt = 1; ; attempt++) {
      let stream: Readable | undefined;
      try {
        const headers: Record<string, string> = {};
        if (offset > 0 || to !== undefined) headers.Range = `bytes=${offset}-${to ?? ''}`;
        if (etag) headers['If-Match'] = etag;
        let r;
        try {
          r = await (await this.client()).getStream(key, { headers, timeout: this.timeout() });
        } catch (err) {
          if (etag && isAliOssError(err) && err.status === 412) {
            throw new ObjectChangedError(this.urlFor(key), etag, '(changed)');
          }
          // A streamed GET's error body is not read by ali-oss (UnknownError); HEAD carries the
          // error in x-oss-err, so ask it for the precise reason (signature, denied, missing).
          if (isAliOssError(err) && err.name === 'UnknownError' && (err.status ?? 0) >= 400 && (err.status ?? 0) < 500) {
            await this.head(key);
          }
          throw this.mapError(err, 'GetObject', key);
        }
        stream = r.stream;
        const h = r.res.headers;
        if (r.res.status === 206) {
          const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(h['content-range'] ?? '');
          if (!m || Number(m[1]) !== offset) {
            throw new OssRequestError('GetObject', this.urlFor(key), 206, 'BadContentRange', h['x-oss-request-id'], `asked for bytes ${offset}-, got "${h['content-range']}"`, true);
          }
          if (end === -2) end = Number(m[2]);
        } else if (offset > 0) {
          throw new OssRequestError('GetObject', this.urlFor(key), r.res.status, 'RangeIgnored', h['x-oss-request-id'], 'the server ignored Range on resume', false);
        } else if (end === -2) {
          end = Number(h['content-length'] ?? 0) - 1; // whole object (an empty one has no range)
        }
        if (!seenFirst) {
          seenFirst = true;
          etag ??= h.etag;
          onFirst(h, r.res.status);
        }
        for await (const chunk of withIdleTimeout(stream, this.timeout(), this.urlFor(key))) {
          const buf = chunk as Buffer;
          offset += buf.length;
          yield buf;
        }
        if (offset !== end + 1) {
          throw new OssRequestError('GetObject', this.urlFor(key), -1, 'IncompleteBody', undefined, `got bytes up to ${offset}, expected ${end + 1}`, true);
        }
        return;
      } catch (err) {
        stream?.destroy();
        // Request-phase errors were mapped above; anything else broke the body mid-stream (a reset).
        const mapped =
          err instanceof StorageError
            ? err
            : new OssRequestError('GetObject', this.urlFor(key), -1, (err as NodeJS.ErrnoException).code ?? 'BodyError', undefined, (err as Error).message, true);
        if (!mapped.retryable || mapped instanceof ObjectChangedError) throw mapped;
        if (attempt >= this.policy.maximumAttempts) throw new RetriesExhaustedError(`OSS GetObject ${this.urlFor(key)}`, attempt, mapped);
        await this.beforeRetry(mapped);
        await sleepMs(delayFor(this.policy, attempt));
      }
    }
  }

  /**
   * Download to `path` atomically. The first request asks for the first part; if the object is
   * bigger, the other parts are fetched `downloadParallel` at a time into their offsets of the
   * temp file, each with its own CRC, combined in order and compared with OSS's CRC-64.
   * Resets resume inside each range; a CRC mismatch (or a change of the object) starts over.
   */
  async download(key: string, path: string): Promise<ObjectMeta> {
    await mkdir(dirname(path), { recursive: true });
    const partSize = this.opts.downloadPartSize ?? 16 * 1024 * 1024;
    const retryWhole = (e: unknown) => e instanceof CrcMismatchError || e instanceof ObjectChangedError;
    return retry(async () => {
      const tmp = `${path}.qfarm-part-${randomBytes(6).toString('hex')}`;
      const fh = await open(tmp, 'wx');
      try {
        let meta: ObjectMeta = { key, size: 0, etag: '', lastModified: new Date(0) };
        let total = 0;
        let remoteCrc: string | undefined;
        const fetchPart = async (start: number, end: number | undefined, etag: string | undefined) => {
          const crc = new Crc64();
          let pos = start;
          const onFirst = (h: Record<string, string | undefined>, status: number) => {
            meta = metaFromHeaders(key, h);
            remoteCrc = meta.crc64;
            const m = /\/(\d+)$/.exec(h['content-range'] ?? '');
            total = status === 206 && m ? Number(m[1]) : Number(h['content-length'] ?? 0);
            meta.size = total;
          };
          // Batch socket-sized chunks into ~1 MiB writes: one thread-pool round trip per MiB.
          let batch: Buffer[] = [];
          let batched = 0;
          const flush = async () => {
            if (batched === 0) return;
            const data = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batched);
            batch = [];
            const at = pos;
            pos += batched;
            batched = 0;
            await fh.write(data, 0, data.length, at);
          };
          for await (const buf of this.readRange(key, start, end, etag, etag ? () => undefined : onFirst)) {
            crc.update(buf);
            batch.push(buf);
            batched += buf.length;
            if (batched >= 1024 * 1024) await flush();
          }
          await flush();
          return { crc: crc.value(), length: pos - start };
        };
        const first = await fetchPart(0, partSize - 1, undefined);
        const parts: { crc: bigint; length: number }[] = [first];
        if (total > first.length) {
          const starts: number[] = [];
          for (let s = first.length; s < total; s += partSize) starts.push(s);
          const results = new Array<{ crc: bigint; length: number }>(starts.length);
          await forEachConcurrent(starts.keys(), this.opts.downloadParallel ?? 4, async (i) => {
            results[i] = await fetchPart(starts[i]!, Math.min(total, starts[i]! + partSize) - 1, meta.etag);
          });
          parts.push(...results);
        }
        await fh.close();
        let combined = 0n;
        for (const p of parts) combined = combineCrc64(combined, p.crc, p.length);
        if (remoteCrc !== undefined && combined.toString(10) !== remoteCrc) {
          throw new CrcMismatchError(this.urlFor(key), 'download', combined.toString(10), remoteCrc);
        }
        await rename(tmp, path);
        return meta;
      } catch (err) {
        await fh.close().catch(() => undefined); // already closed on the success path
        await rm(tmp, { force: true });
        throw unwrapExhausted(err);
      }
    }, this.policy, { operation: `OSS download ${this.urlFor(key)} → ${path}`, isRetryable: retryWhole });
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
      const r = await c.put(key, body, { timeout: this.uploadTimeout(body.length), ...mimeOption(ct) });
      return this.verifyUpload(key, r.res.headers, local, body.length);
    });
  }

  private async putFile(key: string, path: string, ct: string | undefined): Promise<ObjectMeta> {
    const st = await stat(path);
    if (!st.isFile()) throw new StorageError(`cannot upload ${path} to ${this.urlFor(key)}: not a regular file`);
    if (st.size >= (this.opts.multipartThreshold ?? 64 * 1024 * 1024)) return this.putMultipart(key, path, st.size, st.mtimeMs, ct);
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
      const r = await c.putStream(key, body, { contentLength: st.size, timeout: this.uploadTimeout(st.size), ...mimeOption(ct) });
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

  private checkpointPath(key: string, path: string, size: number, mtimeMs: number): string {
    const dir = this.opts.checkpointDir ?? join(tmpdir(), 'qfarm-oss-checkpoints');
    const id = createHash('sha256').update(`${this.endpointUrl()}\n${this.bucket}\n${key}\n${path}\n${size}\n${mtimeMs}`).digest('hex');
    return join(dir, `${id}.json`);
  }

  /**
   * Multipart upload that survives failures and crashes: the checkpoint (uploadId + finished
   * parts) is written to a file after every part; a later call for the same (key, file, size,
   * mtime) resumes it. The whole-object CRC-64 from CompleteMultipartUpload is checked against
   * one computed locally while the parts go up.
   */
  private async putMultipart(key: string, path: string, size: number, mtimeMs: number, ct: string | undefined): Promise<ObjectMeta> {
    const cpFile = this.checkpointPath(key, path, size, mtimeMs);
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
      const client = await this.client();
      // Each attempt works on its own copy of the checkpoint. ali-oss lets parts that were in
      // flight when a sibling failed run on after multipartUpload rejects; their late progress
      // calls carry the previous attempt's object and are ignored, so they cannot rewrite the
      // checkpoint behind the retry's back.
      let current: OSS.Checkpoint | undefined = checkpoint ? (JSON.parse(JSON.stringify(checkpoint)) as OSS.Checkpoint) : undefined;
      try {
        const r = await client.multipartUpload(key, path, {
          partSize: this.opts.partSize ?? 8 * 1024 * 1024,
          parallel: this.opts.parallel ?? 4,
          timeout: this.uploadTimeout(this.opts.partSize ?? 8 * 1024 * 1024),
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
          throw new CrcMismatchError(this.urlFor(key), 'upload', local, remote);
        }
        return { r, local, remote };
      } catch (err) {
        await writes.catch(() => undefined);
        if (err instanceof CrcMismatchError) throw err;
        const mapped = this.mapError(err, 'MultipartUpload', key);
        const code = mapped instanceof OssRequestError ? mapped.code : '';
        if ((isAliOssError(err) && err.status === 404) || (err as Error).name === 'abort' || ['NoSuchUpload', 'InvalidPart', 'InvalidPartOrder'].includes(code)) {
          await restartFresh();
          throw new OssRequestError('MultipartUpload', this.urlFor(key), 0, code || 'NoSuchUpload', undefined, `the multipart upload cannot be completed (${mapped.message}); starting a new one`, true);
        }
        throw mapped;
      }
    }, this.policy, { operation: `OSS multipart upload ${this.urlFor(key)}`, isRetryable: this.isRetryable, onRetry: this.beforeRetry });
    await rm(cpFile, { force: true });
    if (result.remote === undefined) {
      const meta = await this.head(key);
      if (meta.crc64 !== undefined && meta.crc64 !== result.local) throw new CrcMismatchError(this.urlFor(key), 'upload', result.local, meta.crc64);
      return meta;
    }
    return { key, size, etag: result.r.etag ?? result.r.res.headers.etag ?? '', crc64: result.remote, lastModified: new Date() };
  }

  async delete(key: string): Promise<void> {
    await this.run('DeleteObject', key, (c) => c.delete(key, { timeout: this.timeout() }));
  }

  private timeout(): number {
    return this.opts.timeoutMs ?? 60_000;
  }

  /**
   * urllib's response timer starts when the socket connects, so for an upload it covers sending
   * the body too: allow the base timeout plus one second per MiB (a floor of 1 MiB/s).
   */
  private uploadTimeout(bytes: number): number {
    return this.timeout() + Math.ceil(bytes / (1024 * 1024)) * 1000;
  }
}

/** An explicit Content-Type, else none: ali-oss then derives it from the key's extension (.png → image/png). */
function mimeOption(contentType: string | undefined): { mime?: string } {
  return contentType ? { mime: contentType } : {};
}

/** `oss-cn-hangzhou` or `cn-hangzhou` → `cn-hangzhou`. */
function regionId(region: string): string {
  return region.replace(/^oss-/, '').replace(/-internal$/, '');
}

function stsFor(c: OssCredentials): { accessKeyId: string; accessKeySecret: string; stsToken: string } {
  return { accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret, stsToken: c.securityToken ?? '' };
}

function metaFromHeaders(key: string, h: Record<string, string | undefined>): ObjectMeta {
  const meta: ObjectMeta = {
    key,
    size: Number(h['content-length'] ?? 0),
    etag: h.etag ?? '',
    lastModified: new Date(h['last-modified'] ?? Date.now()),
  };
  const crc = parseCrc64Header(h['x-oss-hash-crc64ecma']);
  if (crc !== undefined) meta.crc64 = crc;
  return meta;
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

async function* iterRest(it: AsyncIterator<unknown>): AsyncGenerator<Buffer> {
  for (;;) {
    const n = await it.next();
    if (n.done) return;
    yield Buffer.isBuffer(n.value) ? n.value : Buffer.from(n.value as Uint8Array);
  }
}

/** Yield a stream's chunks, failing with a retryable error when nothing arrives for `ms`. */
async function* withIdleTimeout(stream: Readable, ms: number, url: string): AsyncGenerator<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stream.destroy(new OssRequestError('GetObject', url, -2, 'ResponseTimeout', undefined, `no data for ${ms} ms`, true));
    }, ms);
  };
  try {
    arm();
    for await (const chunk of stream) {
      arm();
      yield chunk;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** download() retries CRC mismatches itself; let the inner exhausted wrapper not hide the cause. */
function unwrapExhausted(err: unknown): unknown {
  if (err instanceof RetriesExhaustedError && err.lastError instanceof CrcMismatchError) return err.lastError;
  return err;
}
