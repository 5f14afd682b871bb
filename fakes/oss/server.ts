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
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Crc64 } from '../../storage/crc64.js';
import { FaultInjector, type FaultRule, type FaultRuleSpec } from './faults.js';
import { ObjectData, type StoredObject, type StoredPart } from './object-data.js';
import { verifySignature, type FakeOssKey } from './signature.js';
import { document, errorXml, esc, fields, parseParts } from './xml.js';

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

export interface RequestRecord {
  method: string;
  op: string;
  bucket: string;
  key: string;
  status: number;
  partNumber?: number;
  /** The Range header, when sent. */
  range?: string;
  /** Query parameter names, in arrival order (the request's shape, for recorded-shape checks). */
  query: string[];
  /** Header names (lower case), sorted. */
  headers: string[];
  /** Which fault rule (if any) hit this request. */
  fault?: string;
}

export class FakeOssStats {
  requests: RequestRecord[] = [];
  inFlight = 0;
  maxInFlight = 0;

  /** Requests for an operation (and optionally a key regexp); `ok: true` counts only those answered < 300, `ok: false` only the others. */
  count(op: string, opts: { key?: RegExp; ok?: boolean } = {}): number {
    return this.requests.filter(
      (r) => r.op === op && (!opts.key || opts.key.test(r.key)) && (opts.ok === undefined || r.status < 300 === opts.ok),
    ).length;
  }

  reset(): void {
    this.requests = [];
    this.maxInFlight = this.inFlight;
  }
}

class OssError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, string | number | undefined> = {},
  ) {
    super(message);
  }
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  bucket: string;
  key: string;
  query: URLSearchParams;
  queryList: [string, string][];
  op: string;
  requestId: string;
  fault: FaultRule | undefined;
  record: RequestRecord;
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
    const hostHeader = req.headers.host ?? '';
    const hostname = hostHeader.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    const pathStyle = isIP(hostname) !== 0 || hostname === 'localhost';
    let bucket: string;
    let keyPath: string;
    if (pathStyle) {
      if (url.pathname.startsWith('/_fake/')) {
        this.stats.inFlight--;
        counted = false;
        return this.handleAdmin(req, res, url);
      }
      const rest = url.pathname.slice(1);
      const slash = rest.indexOf('/');
      bucket = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
      keyPath = slash < 0 ? '' : rest.slice(slash + 1);
    } else {
      bucket = hostname.split('.')[0] ?? '';
      keyPath = url.pathname.slice(1);
    }
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
    const ctx: Ctx = { req, res, method, bucket, key, query: url.searchParams, queryList, op, requestId, fault, record };
    try {
      await this.dispatch(ctx);
    } catch (err) {
      if (err instanceof OssError) {
        await drain(req);
        this.sendError(ctx, err);
      } else if (!res.headersSent && !res.destroyed) {
        await drain(req);
        this.sendError(ctx, new OssError(500, 'InternalError', `fake OSS internal error: ${(err as Error).message}`));
      } else {
        res.destroy();
      }
    }
  }

  private async dispatch(ctx: Ctx): Promise<void> {
    const { fault } = ctx;
    if (fault?.kind === 'slow') {
      // Cut short when the client goes away or the server closes (no stray timers keep tests alive).
      const gone = new AbortController();
      const onClose = () => gone.abort();
      ctx.res.once('close', onClose);
      this.closing.signal.addEventListener('abort', onClose, { once: true });
      try {
        await sleep(fault.spec.delayMs ?? 1000, undefined, { signal: gone.signal });
      } finally {
        ctx.res.off('close', onClose);
        this.closing.signal.removeEventListener('abort', onClose);
      }
    }
    if (fault?.kind === 'status') {
      const status = fault.spec.status ?? 503;
      const code = fault.spec.code ?? (status === 503 ? 'ServiceUnavailable' : status >= 500 ? 'InternalError' : 'InvalidArgument');
      throw new OssError(status, code, `injected fault: ${code}`);
    }
    if (!this.data.hasBucket(ctx.bucket)) {
      if (this.options.autoCreateBuckets && /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(ctx.bucket)) {
        this.data.addBucket(ctx.bucket);
      } else {
        throw new OssError(404, 'NoSuchBucket', 'The specified bucket does not exist.', { BucketName: ctx.bucket });
      }
    }
    const check = verifySignature(
      { method: ctx.method, bucket: ctx.bucket, key: ctx.key, query: ctx.queryList, headers: ctx.req.headers },
      this.keys,
      this.now(),
    );
    if (!check.ok) {
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
    switch (ctx.op) {
      case 'PutObject':
        return this.putObject(ctx);
      case 'GetObject':
        return this.getObject(ctx, false);
      case 'HeadObject':
        return this.getObject(ctx, true);
      case 'DeleteObject':
        await this.data.delete(ctx.bucket, ctx.key);
        return this.send(ctx, 204);
      case 'ListObjectsV2':
      case 'ListObjects':
        return this.listObjects(ctx);
      case 'InitiateMultipartUpload':
        return this.initiateMultipart(ctx);
      case 'UploadPart':
        return this.uploadPart(ctx);
      case 'CompleteMultipartUpload':
        return this.completeMultipart(ctx);
      case 'AbortMultipartUpload':
        await this.upload(ctx);
        await this.data.dropUpload(ctx.query.get('uploadId')!);
        return this.send(ctx, 204);
      case 'ListParts':
        return this.listParts(ctx);
      default:
        throw new OssError(405, 'MethodNotAllowed', `The fake OSS does not implement ${ctx.method} ${ctx.op}.`);
    }
  }

  // ---- responses -----------------------------------------------------------------------------

  private baseHeaders(ctx: Ctx): Record<string, string> {
    return {
      'x-oss-request-id': ctx.requestId,
      date: new Date(this.now()).toUTCString(),
      server: 'AliyunOSS',
    };
  }

  private hostId(ctx: Ctx): string {
    return `${ctx.bucket || 'oss'}.oss-${this.options.region ?? 'cn-hangzhou'}.aliyuncs.com`;
  }

  private send(ctx: Ctx, status: number, body?: string, headers: Record<string, string> = {}): void {
    ctx.record.status = status;
    const h: Record<string, string> = { ...this.baseHeaders(ctx), ...headers };
    if (body !== undefined) {
      h['content-type'] = 'application/xml';
      h['content-length'] = String(Buffer.byteLength(body));
    } else {
      h['content-length'] = '0';
    }
    ctx.res.writeHead(status, h);
    ctx.res.end(body);
  }

  private sendError(ctx: Ctx, err: OssError): void {
    if (ctx.res.headersSent || ctx.res.destroyed) {
      ctx.res.destroy();
      return;
    }
    const extra = { ...err.extra };
    if (ctx.key && extra.Key === undefined && err.code === 'NoSuchKey') extra.Key = ctx.key;
    const xml = errorXml(err.code, err.message, ctx.requestId, this.hostId(ctx), extra);
    if (ctx.method === 'HEAD') {
      // HEAD answers have no body; OSS carries the error in x-oss-err (base64 XML), which ali-oss reads.
      ctx.record.status = err.status;
      ctx.res.writeHead(err.status, {
        ...this.baseHeaders(ctx),
        'x-oss-err': Buffer.from(xml).toString('base64'),
        'content-length': '0',
      });
      ctx.res.end();
      return;
    }
    this.send(ctx, err.status, xml);
  }

  // ---- objects -------------------------------------------------------------------------------

  /** Receive a request body into a temp file, hashing it; applies reset/corrupt faults. */
  private async receive(ctx: Ctx): Promise<{ tmp: string; size: number; md5: Buffer; crc64: string }> {
    const tmp = this.data.tempPath();
    const out = createWriteStream(tmp);
    const md5 = createHash('md5');
    const crc = new Crc64();
    let size = 0;
    const declared = Number(ctx.req.headers['content-length'] ?? NaN);
    const fault = ctx.fault;
    const resetAt =
      fault?.kind === 'reset' ? (fault.spec.afterBytes ?? (Number.isFinite(declared) ? Math.floor(declared / 2) : 0)) : -1;
    let corruptPending = fault?.kind === 'corrupt';
    try {
      for await (const c of ctx.req) {
        let chunk = c as Buffer;
        if (resetAt >= 0 && size + chunk.length >= resetAt) {
          ctx.record.status = -1;
          ctx.req.socket.destroy();
          throw new Error('injected reset');
        }
        if (corruptPending && chunk.length > 0) {
          // Flip one bit, as a bad NIC or proxy would; OSS hashes what it received.
          chunk = Buffer.from(chunk);
          chunk[chunk.length >> 1]! ^= 0x01;
          corruptPending = false;
        }
        size += chunk.length;
        md5.update(chunk);
        crc.update(chunk);
        if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      }
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    } catch (err) {
      out.destroy();
      await rm(tmp, { force: true });
      throw err;
    }
    const digest = md5.digest();
    const sent = ctx.req.headers['content-md5'];
    if (typeof sent === 'string' && sent !== digest.toString('base64')) {
      await rm(tmp, { force: true });
      throw new OssError(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.', { 'Content-MD5': sent });
    }
    return { tmp, size, md5: digest, crc64: crc.toString() };
  }

  private objectMeta(ctx: Ctx): { contentType: string; meta: Record<string, string> } {
    const meta: Record<string, string> = {};
    for (const [k, v] of Object.entries(ctx.req.headers)) {
      if (k.startsWith('x-oss-meta-') && typeof v === 'string') meta[k.slice('x-oss-meta-'.length)] = v;
    }
    const ct = ctx.req.headers['content-type'];
    return { contentType: typeof ct === 'string' && ct ? ct : 'application/octet-stream', meta };
  }

  private async putObject(ctx: Ctx): Promise<void> {
    const body = await this.receive(ctx);
    const stored = await this.data.commit(
      {
        bucket: ctx.bucket,
        key: ctx.key,
        size: body.size,
        etag: `"${body.md5.toString('hex').toUpperCase()}"`,
        crc64: body.crc64,
        lastModified: new Date(this.now()).toUTCString(),
        type: 'Normal',
        ...this.objectMeta(ctx),
      },
      body.tmp,
    );
    this.send(ctx, 200, undefined, {
      etag: stored.etag,
      'x-oss-hash-crc64ecma': stored.crc64,
      'content-md5': body.md5.toString('base64'),
    });
  }

  private async getObject(ctx: Ctx, headOnly: boolean): Promise<void> {
    const obj = this.data.get(ctx.bucket, ctx.key);
    if (!obj) throw new OssError(404, 'NoSuchKey', 'The specified key does not exist.');
    const ifMatch = ctx.req.headers['if-match'];
    if (typeof ifMatch === 'string' && ifMatch !== obj.etag && ifMatch !== '*') {
      throw new OssError(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.', {
        Condition: 'If-Match',
      });
    }
    const ifNoneMatch = ctx.req.headers['if-none-match'];
    const headers: Record<string, string> = {
      ...this.baseHeaders(ctx),
      etag: obj.etag,
      'last-modified': obj.lastModified,
      'content-type': obj.contentType,
      'x-oss-hash-crc64ecma': obj.crc64,
      'x-oss-object-type': obj.type,
      'x-oss-storage-class': 'Standard',
      'accept-ranges': 'bytes',
    };
    for (const [k, v] of Object.entries(obj.meta)) headers[`x-oss-meta-${k}`] = v;
    if (typeof ifNoneMatch === 'string' && ifNoneMatch === obj.etag) {
      ctx.record.status = 304;
      ctx.res.writeHead(304, headers);
      ctx.res.end();
      return;
    }
    let start = 0;
    let end = obj.size - 1;
    let status = 200;
    const range = parseRange(ctx.req.headers.range, obj.size);
    if (range) {
      [start, end] = range;
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${obj.size}`;
    }
    const length = Math.max(0, end - start + 1);
    headers['content-length'] = String(length);
    ctx.record.status = status;
    if (headOnly) {
      headers['content-length'] = String(obj.size);
      ctx.res.writeHead(200, headers);
      ctx.res.end();
      return;
    }
    ctx.res.writeHead(status, headers);
    if (length === 0) {
      ctx.res.end();
      return;
    }
    await this.streamBody(ctx, obj.file, start, end, length);
  }

  /** Stream [start, end] of a file, applying reset/corrupt faults. */
  private async streamBody(ctx: Ctx, file: string, start: number, end: number, length: number): Promise<void> {
    const fault = ctx.fault;
    const resetAt = fault?.kind === 'reset' ? Math.min(fault.spec.afterBytes ?? Math.floor(length / 2), length - 1) : -1;
    let corruptPending = fault?.kind === 'corrupt';
    let sent = 0;
    const res = ctx.res;
    const input = createReadStream(file, { start, end, highWaterMark: 256 * 1024 });
    try {
      for await (const c of input) {
        let chunk = c as Buffer;
        if (resetAt >= 0 && sent + chunk.length > resetAt) {
          const head = chunk.subarray(0, resetAt - sent);
          if (head.length) await writeAll(res, head);
          ctx.record.status = -1;
          // Let the bytes leave, then kill the socket mid-body.
          await sleep(5, undefined, { signal: this.closing.signal }).catch(() => undefined);
          res.socket?.destroy();
          input.destroy();
          return;
        }
        if (corruptPending && chunk.length > 0) {
          chunk = Buffer.from(chunk);
          chunk[chunk.length >> 1]! ^= 0x01;
          corruptPending = false;
        }
        sent += chunk.length;
        if (res.destroyed) {
          input.destroy();
          return;
        }
        await writeAll(res, chunk);
      }
      res.end();
    } catch {
      input.destroy();
      res.destroy();
    }
  }

  private listObjects(ctx: Ctx): void {
    const q = ctx.query;
    const v2 = ctx.op === 'ListObjectsV2';
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const maxKeysText = q.get('max-keys');
    const maxKeys = maxKeysText === null ? 100 : Number(maxKeysText); // OSS default: 100
    if (!Number.isInteger(maxKeys) || maxKeys < 1 || maxKeys > 1000) {
      throw new OssError(400, 'InvalidArgument', 'Argument max-keys must be an integer between 1 and 1000.', {
        ArgumentName: 'max-keys',
        ArgumentValue: maxKeysText ?? '',
      });
    }
    let after = '';
    const token = q.get('continuation-token');
    if (v2 && token) {
      after = Buffer.from(token, 'base64url').toString('utf8');
    } else if (v2) {
      after = q.get('start-after') ?? '';
    } else {
      after = q.get('marker') ?? '';
    }
    const afterBuf = Buffer.from(after);
    const contents: StoredObject[] = [];
    const prefixes: string[] = [];
    let last = '';
    let truncated = false;
    for (const key of this.data.sortedKeys(ctx.bucket)) {
      if (after && Buffer.compare(Buffer.from(key), afterBuf) <= 0) continue;
      if (!key.startsWith(prefix)) continue;
      let common: string | undefined;
      if (delimiter) {
        const i = key.indexOf(delimiter, prefix.length);
        if (i >= 0) common = key.slice(0, i + delimiter.length);
      }
      if (common !== undefined && prefixes[prefixes.length - 1] === common) continue;
      if (contents.length + prefixes.length >= maxKeys) {
        truncated = true;
        break;
      }
      if (common !== undefined) {
        prefixes.push(common);
        last = common + '\uffff'; // resume after everything under this common prefix
      } else {
        contents.push(this.data.get(ctx.bucket, key)!);
        last = key;
      }
    }
    const owner = '<Owner><ID>1234567890</ID><DisplayName>1234567890</DisplayName></Owner>';
    const items = contents
      .map(
        (o) =>
          `<Contents>${fields({
            Key: o.key,
            LastModified: new Date(o.lastModified).toISOString(),
            ETag: o.etag,
            Type: o.type,
            Size: o.size,
            StorageClass: 'Standard',
          })}${!v2 || q.get('fetch-owner') === 'true' ? owner : ''}</Contents>`,
      )
      .join('');
    const cps = prefixes.map((p) => `<CommonPrefixes><Prefix>${esc(p)}</Prefix></CommonPrefixes>`).join('');
    const head = v2
      ? fields({
          Name: ctx.bucket,
          Prefix: prefix,
          ContinuationToken: token ?? undefined,
          StartAfter: q.get('start-after') ?? undefined,
          MaxKeys: maxKeys,
          Delimiter: delimiter || undefined,
          IsTruncated: truncated,
          NextContinuationToken: truncated ? Buffer.from(last).toString('base64url') : undefined,
          KeyCount: contents.length + prefixes.length,
        })
      : fields({
          Name: ctx.bucket,
          Prefix: prefix,
          Marker: after,
          MaxKeys: maxKeys,
          Delimiter: delimiter || undefined,
          IsTruncated: truncated,
          NextMarker: truncated ? last : undefined,
        });
    this.send(ctx, 200, document('ListBucketResult', head + items + cps));
  }

  // ---- multipart -----------------------------------------------------------------------------

  private async initiateMultipart(ctx: Ctx): Promise<void> {
    await drain(ctx.req);
    const uploadId = randomBytes(16).toString('hex').toUpperCase();
    this.data.uploads.set(uploadId, {
      uploadId,
      bucket: ctx.bucket,
      key: ctx.key,
      initiated: new Date(this.now()).toISOString(),
      parts: new Map(),
      ...this.objectMeta(ctx),
    });
    this.send(
      ctx,
      200,
      document('InitiateMultipartUploadResult', fields({ Bucket: ctx.bucket, Key: ctx.key, UploadId: uploadId })),
    );
  }

  private async upload(ctx: Ctx) {
    const uploadId = ctx.query.get('uploadId') ?? '';
    const upload = this.data.uploads.get(uploadId);
    if (!upload || upload.bucket !== ctx.bucket || upload.key !== ctx.key) {
      throw new OssError(
        404,
        'NoSuchUpload',
        'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
        { UploadId: uploadId },
      );
    }
    return upload;
  }

  private async uploadPart(ctx: Ctx): Promise<void> {
    const upload = await this.upload(ctx);
    const partNumber = Number(ctx.query.get('partNumber'));
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) {
      throw new OssError(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000.');
    }
    const body = await this.receive(ctx);
    const etag = `"${body.md5.toString('hex').toUpperCase()}"`;
    const old = upload.parts.get(partNumber);
    upload.parts.set(partNumber, {
      partNumber,
      etag,
      md5: body.md5,
      crc64: body.crc64,
      size: body.size,
      file: body.tmp,
      lastModified: new Date(this.now()).toISOString(),
    });
    if (old) await rm(old.file, { force: true });
    this.send(ctx, 200, undefined, { etag, 'x-oss-hash-crc64ecma': body.crc64 });
  }

  private async completeMultipart(ctx: Ctx): Promise<void> {
    const upload = await this.upload(ctx);
    const chunks: Buffer[] = [];
    for await (const c of ctx.req) chunks.push(c as Buffer);
    let listed;
    try {
      listed = parseParts(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed.');
    }
    if (listed.length === 0) throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed.');
    const parts: StoredPart[] = [];
    let prev = 0;
    for (const p of listed) {
      if (p.partNumber <= prev) throw new OssError(400, 'InvalidPartOrder', 'The list of parts was not in ascending order.');
      prev = p.partNumber;
      const stored = upload.parts.get(p.partNumber);
      if (!stored || stored.etag.replace(/"/g, '').toUpperCase() !== p.etag.replace(/"/g, '').toUpperCase()) {
        throw new OssError(400, 'InvalidPart', 'One or more of the specified parts could not be found or the specified entity tag might not have matched the part\'s entity tag.', {
          PartNumber: p.partNumber,
        });
      }
      parts.push(stored);
    }
    for (const p of parts.slice(0, -1)) {
      if (p.size < 100 * 1024) throw new OssError(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size.');
    }
    const obj = await this.data.completeMultipart(upload, parts, ctx.fault?.kind === 'corrupt');
    this.send(
      ctx,
      200,
      document(
        'CompleteMultipartUploadResult',
        fields({ Location: `http://${this.hostId(ctx)}/${ctx.key}`, Bucket: ctx.bucket, Key: ctx.key, ETag: obj.etag }),
      ),
      { etag: obj.etag, 'x-oss-hash-crc64ecma': obj.crc64 },
    );
  }

  private async listParts(ctx: Ctx): Promise<void> {
    const upload = await this.upload(ctx);
    const marker = Number(ctx.query.get('part-number-marker') ?? 0);
    const max = Number(ctx.query.get('max-parts') ?? 1000);
    const all = [...upload.parts.values()].sort((a, b) => a.partNumber - b.partNumber).filter((p) => p.partNumber > marker);
    const page = all.slice(0, max);
    const truncated = all.length > page.length;
    const items = page
      .map(
        (p) =>
          `<Part>${fields({ PartNumber: p.partNumber, LastModified: p.lastModified, ETag: p.etag, HashCrc64ecma: p.crc64, Size: p.size })}</Part>`,
      )
      .join('');
    this.send(
      ctx,
      200,
      document(
        'ListPartsResult',
        fields({
          Bucket: ctx.bucket,
          Key: ctx.key,
          UploadId: upload.uploadId,
          PartNumberMarker: marker,
          NextPartNumberMarker: page.length ? page[page.length - 1]!.partNumber : marker,
          MaxParts: max,
          IsTruncated: truncated,
        }) + items,
      ),
    );
  }

  // ---- admin ---------------------------------------------------------------------------------

  private async handleAdmin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    let body: Record<string, unknown>;
    try {
      body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
    } catch (err) {
      return json(400, { error: `bad JSON: ${(err as Error).message}` });
    }
    const route = `${req.method} ${url.pathname}`;
    try {
      switch (route) {
        case 'GET /_fake/stats':
          return json(200, { maxInFlight: this.stats.maxInFlight, requests: this.stats.requests });
        case 'POST /_fake/reset-stats':
          this.stats.reset();
          return json(200, {});
        case 'POST /_fake/faults': {
          const rule = this.faults.add(body as unknown as FaultRuleSpec);
          return json(200, { id: rule.id });
        }
        case 'DELETE /_fake/faults':
          this.faults.clear();
          return json(200, {});
        case 'POST /_fake/clock':
          this.clockSkewMs = Number(body.skewMs ?? 0);
          return json(200, { skewMs: this.clockSkewMs });
        default:
          return json(404, { error: `unknown admin route ${route}` });
      }
    } catch (err) {
      return json(400, { error: (err as Error).message });
    }
  }
}

/** Which OSS operation a request is. */
export function operationOf(method: string, key: string, q: URLSearchParams): string {
  if (key === '') {
    if (method === 'GET') return q.get('list-type') === '2' ? 'ListObjectsV2' : q.has('uploads') ? 'ListMultipartUploads' : 'ListObjects';
    return `Bucket${method}`;
  }
  switch (method) {
    case 'PUT':
      return q.has('partNumber') && q.has('uploadId') ? 'UploadPart' : 'PutObject';
    case 'POST':
      if (q.has('uploads')) return 'InitiateMultipartUpload';
      if (q.has('uploadId')) return 'CompleteMultipartUpload';
      return 'PostObject';
    case 'GET':
      return q.has('uploadId') ? 'ListParts' : 'GetObject';
    case 'HEAD':
      return 'HeadObject';
    case 'DELETE':
      return q.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    default:
      return method;
  }
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`; undefined (whole object, as OSS does) when invalid. */
function parseRange(header: string | undefined, size: number): [number, number] | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return undefined;
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) return undefined;
  return [start, end];
}

async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return;
  try {
    for await (const _ of req) {
      /* discard */
    }
  } catch {
    /* the client went away; nothing to answer */
  }
}

function writeAll(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (res.write(chunk)) return resolve();
    const onDrain = () => {
      res.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      res.off('drain', onDrain);
      reject(new Error('client closed'));
    };
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}
