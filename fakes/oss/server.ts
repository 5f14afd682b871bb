/**
 * A local OSS: the subset of the OSS REST protocol that ali-oss uses for qfarm's data layer
 * (Put/Get(Range)/Head/Delete object, ListObjects V1/V2, multipart upload with ListParts),
 * with V1 and V4 signature checks, Content-MD5 checks, CRC-64 and ETag headers, errors in OSS's
 * XML shape, and fault injection (status codes, slow answers, resets mid-body, corrupt bodies,
 * clock skew).
 *
 * Addressing: a Host that is an IP or `localhost` means path-style (`/bucket/key`); any other
 * Host means virtual-hosted style (bucket = first label). ali-oss pointed at an IP endpoint sends
 * the request to the IP with `Host: <bucket>.oss-<region>.aliyuncs.com`, which lands here as
 * virtual-hosted.
 *
 * Admin endpoints (no auth, path-style only): GET /_fake/stats, POST /_fake/faults (JSON rule),
 * DELETE /_fake/faults, POST /_fake/clock {"skewMs":N}, POST /_fake/reset-stats.
 */
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter, setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Crc64 } from '../../storage/crc64.js';
import { handleAdmin } from './admin.js';
import { drain, OssError, Replies, type Exchange, type OssEnv } from './exchange.js';
import { FaultInjector } from './faults.js';
import { listObjects } from './listing.js';
import { abortMultipart, completeMultipart, initiateMultipart, listParts, uploadPart } from './multipart.js';
import { ObjectData, type StoredObject } from './object-data.js';
import { deleteObject, getObject, putObject } from './object-ops.js';
import { addressOf, operationOf } from './routing.js';
import { verifySignature, type FakeOssKey } from './signature.js';
import { FakeOssStats, type RequestRecord } from './stats.js';

export { FakeOssStats, type RequestRecord } from './stats.js';
export { operationOf } from './routing.js';

export interface FakeOssOptions {
  /** @default 127.0.0.1 */
  host?: string;
  /** @default 0 (ephemeral) */
  port?: number;
  /** Where object data lives; a fresh temp dir (removed on close) when absent. */
  dir?: string;
  /** Accepted key pairs. */
  keys: FakeOssKey[];
  /** Buckets that exist. @default ['qfarm'] */
  buckets?: string[];
  /** Create a bucket on first use instead of answering NoSuchBucket. @default false */
  autoCreateBuckets?: boolean;
  /** Used in HostId. @default cn-hangzhou */
  region?: string;
}

export class FakeOssServer {
  /** Emits 'request' (RequestRecord) as each request arrives, so tests can wait on events instead of sleeping. */
  readonly events = new EventEmitter();
  readonly faults = new FaultInjector();
  readonly stats = new FakeOssStats();
  /** Added to the server's clock (to provoke RequestTimeTooSkewed). */
  clockSkewMs = 0;
  private readonly keys: Map<string, FakeOssKey>;
  private server!: Server;
  private ownsDir = false;
  private data!: ObjectData;
  private env!: OssEnv;
  private closed = false;
  /** Aborted on close(); every slow fault listens to it, so it may have many listeners. */
  private readonly closing = (() => {
    const c = new AbortController();
    setMaxListeners(0, c.signal);
    return c;
  })();

  private constructor(readonly options: FakeOssOptions) {
    this.keys = new Map(options.keys.map((k) => [k.accessKeyId, k]));
  }

  static async start(options: FakeOssOptions): Promise<FakeOssServer> {
    const s = new FakeOssServer(options);
    await s.listen();
    return s;
  }

  private async listen(): Promise<void> {
    let dir = this.options.dir;
    if (!dir) {
      dir = await mkdtemp(join(tmpdir(), 'qfarm-fake-oss-'));
      this.ownsDir = true;
    }
    this.data = new ObjectData(dir, this.options.buckets ?? ['qfarm']);
    await this.data.init();
    const now = () => this.now();
    this.env = { data: this.data, now, replies: new Replies(this.options.region ?? 'cn-hangzhou', now), closing: this.closing.signal };
    this.server = createServer((req, res) => {
      // Anything that escapes the per-request handling (a malformed URL, bad admin JSON) answers
      // 400 instead of becoming an unhandled rejection that would kill the fake.
      this.handle(req, res).catch((err: Error) => {
        if (res.headersSent || res.destroyed) return void res.destroy();
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end(`fake OSS could not handle the request: ${err.message}\n`);
      });
    });
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `http://127.0.0.1:PORT`, what to pass as ali-oss's `endpoint`. */
  get url(): string {
    const host = this.options.host ?? '127.0.0.1';
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  get dir(): string {
    return this.data.dir;
  }

  addBucket(name: string): void {
    this.data.addBucket(name);
  }

  /** Stored object metadata (for tests). */
  object(bucket: string, key: string): StoredObject | undefined {
    return this.data.get(bucket, key);
  }

  /** Put an object directly, bypassing HTTP (to seed tests and benchmarks quickly). */
  async seed(bucket: string, key: string, body: Buffer): Promise<StoredObject> {
    this.data.addBucket(bucket);
    const tmp = this.data.tempPath();
    await new Promise<void>((resolve, reject) => {
      const ws = createWriteStream(tmp);
      ws.on('error', reject);
      ws.end(body, () => resolve());
    });
    return this.data.commit(
      {
        bucket,
        key,
        size: body.length,
        etag: `"${createHash('md5').update(body).digest('hex').toUpperCase()}"`,
        crc64: new Crc64().update(body).toString(),
        lastModified: new Date().toUTCString(),
        contentType: 'application/octet-stream',
        type: 'Normal',
        meta: {},
      },
      tmp,
    );
  }

  /** Seed an object from a local file (streamed: fine for multi-GiB benchmark objects). */
  async seedFromFile(bucket: string, key: string, path: string): Promise<StoredObject> {
    this.data.addBucket(bucket);
    const tmp = this.data.tempPath();
    const md5 = createHash('md5');
    const crc = new Crc64();
    let size = 0;
    const out = createWriteStream(tmp);
    for await (const c of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
      const chunk = c as Buffer;
      md5.update(chunk);
      crc.update(chunk);
      size += chunk.length;
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    return this.data.commit(
      {
        bucket,
        key,
        size,
        etag: `"${md5.digest('hex').toUpperCase()}"`,
        crc64: crc.toString(),
        lastModified: new Date().toUTCString(),
        contentType: 'application/octet-stream',
        type: 'Normal',
        meta: {},
      },
      tmp,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    if (this.ownsDir) await rm(this.data.dir, { recursive: true, force: true });
  }

  private now(): number {
    return Date.now() + this.clockSkewMs;
  }

  // ---- request routing -----------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.stats.inFlight++;
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.stats.inFlight);
    let counted = true;
    res.on('close', () => {
      if (counted) this.stats.inFlight--;
      counted = false;
    });
    const requestId = randomBytes(12).toString('hex').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = (req.method ?? 'GET').toUpperCase();
    const address = addressOf(req, url);
    if (address.admin) {
      this.stats.inFlight--;
      counted = false;
      return handleAdmin(this, req, res, url);
    }
    const { bucket, keyPath } = address;
    let key: string;
    try {
      key = decodeURIComponent(keyPath);
    } catch {
      key = keyPath;
    }
    const queryList = [...url.searchParams.entries()];
    const op = operationOf(method, key, url.searchParams);
    const record: RequestRecord = {
      method,
      op,
      bucket,
      key,
      status: 0,
      query: queryList.map(([k]) => k),
      headers: Object.keys(req.headers).sort(),
    };
    const partNumber = url.searchParams.get('partNumber');
    if (partNumber) record.partNumber = Number(partNumber);
    if (typeof req.headers.range === 'string') record.range = req.headers.range;
    this.stats.requests.push(record);
    this.events.emit('request', record);
    const fault = this.faults.take({ method, op, key, ...(record.partNumber !== undefined ? { partNumber: record.partNumber } : {}) });
    if (fault) record.fault = `${fault.kind}#${fault.id}`;
    const ex: Exchange = { req, res, method, bucket, key, query: url.searchParams, queryList, op, requestId, fault, record };
    try {
      await this.dispatch(ex);
    } catch (err) {
      if (err instanceof OssError) {
        await drain(req);
        this.env.replies.sendError(ex, err);
      } else if (!res.headersSent && !res.destroyed) {
        await drain(req);
        this.env.replies.sendError(ex, new OssError(500, 'InternalError', `fake OSS internal error: ${(err as Error).message}`));
      } else {
        res.destroy();
      }
    }
  }

  /** Faults first, then the bucket and the signature, as OSS checks them; then the operation. */
  private async dispatch(ex: Exchange): Promise<void> {
    const { fault } = ex;
    if (fault?.kind === 'slow') {
      // Cut short when the client goes away or the server closes (no stray timers keep tests alive).
      const gone = new AbortController();
      const onClose = () => gone.abort();
      ex.res.once('close', onClose);
      this.closing.signal.addEventListener('abort', onClose, { once: true });
      try {
        await sleep(fault.spec.delayMs ?? 1000, undefined, { signal: gone.signal });
      } finally {
        ex.res.off('close', onClose);
        this.closing.signal.removeEventListener('abort', onClose);
      }
    }
    if (fault?.kind === 'status') {
      const status = fault.spec.status ?? 503;
      const code = fault.spec.code ?? (status === 503 ? 'ServiceUnavailable' : status >= 500 ? 'InternalError' : 'InvalidArgument');
      throw new OssError(status, code, `injected fault: ${code}`);
    }
    if (!this.data.hasBucket(ex.bucket)) {
      if (this.options.autoCreateBuckets && /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(ex.bucket)) {
        this.data.addBucket(ex.bucket);
      } else {
        throw new OssError(404, 'NoSuchBucket', 'The specified bucket does not exist.', { BucketName: ex.bucket });
      }
    }
    this.authenticate(ex);
    const env = this.env;
    switch (ex.op) {
      case 'PutObject':
        return putObject(env, ex);
      case 'GetObject':
        return getObject(env, ex, false);
      case 'HeadObject':
        return getObject(env, ex, true);
      case 'DeleteObject':
        return deleteObject(env, ex);
      case 'ListObjectsV2':
      case 'ListObjects':
        return listObjects(env, ex);
      case 'InitiateMultipartUpload':
        return initiateMultipart(env, ex);
      case 'UploadPart':
        return uploadPart(env, ex);
      case 'CompleteMultipartUpload':
        return completeMultipart(env, ex);
      case 'AbortMultipartUpload':
        return abortMultipart(env, ex);
      case 'ListParts':
        return listParts(env, ex);
      default:
        throw new OssError(405, 'MethodNotAllowed', `The fake OSS does not implement ${ex.method} ${ex.op}.`);
    }
  }

  /** A V1 or V4 signature check; a failure is OSS's error with the fields OSS adds to it. */
  private authenticate(ex: Exchange): void {
    const check = verifySignature({ method: ex.method, bucket: ex.bucket, key: ex.key, query: ex.queryList, headers: ex.req.headers }, this.keys, this.now());
    if (check.ok) return;
    const extra: Record<string, string | number | undefined> = {};
    if (check.accessKeyId !== undefined) extra.OSSAccessKeyId = check.accessKeyId;
    if (check.code === 'SignatureDoesNotMatch') {
      extra.StringToSign = check.stringToSign;
      extra.StringToSignBytes = [...Buffer.from(check.stringToSign)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    }
    if (check.code === 'RequestTimeTooSkewed') {
      extra.RequestTime = check.requestTime;
      extra.ServerTime = new Date(this.now()).toISOString();
      extra.MaxAllowedSkewMilliseconds = 900000;
    }
    const status = check.code === 'InvalidArgument' ? 400 : 403;
    throw new OssError(status, check.code, check.message, extra);
  }
}
