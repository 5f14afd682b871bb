import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseQuery } from 'node:querystring';
import { errorBody, FakeApiError, statusForCode, type InjectedError } from './api-error.js';
import { FakeBatchCompute, type FakeBatchComputeOptions } from './batchcompute-fake.js';
import { FakeEcs, type FakeEcsOptions } from './ecs-fake.js';
import { md5Base64, parseEncodedPairs, roaSignature, roaStringToSign, rpcSignature, rpcStringToSign } from './signatures.js';

/**
 * One loopback HTTP server standing in for Alibaba Cloud:
 *   POST|GET /                     ECS RPC (2014-05-26), signature recomputed and checked
 *   /clusters/...                  BatchCompute ROA (2015-11-11), `Authorization: acs AK:sig` checked
 *   /metadata/<instance-id>/latest/...  the instance metadata service (100.100.100.200) per instance
 *   /_fake/...                     test controls (interrupt a spot instance, inject errors, state)
 * Requests signed with an unknown key or a wrong secret get Alibaba's JSON error shape.
 */

export interface FakeAlibabaOptions {
  /** accessKeyId → secret. @default {'qfarm-test-key': 'qfarm-test-secret'} */
  accessKeys?: Record<string, string>;
  ecs?: FakeEcsOptions;
  batchCompute?: FakeBatchComputeOptions;
  /** Max clock skew accepted for Timestamp / Date. @default 15 min */
  maxSkewMs?: number;
  now?: () => number;
  host?: string;
}

/** Inject this code to make the fake carry out the call and then reset the connection. */
export const DROP_RESPONSE = 'DropResponse';
const ECS_VERSION = '2014-05-26';
const BATCHCOMPUTE_VERSION = '2015-11-11';

export class FakeAlibaba {
  readonly ecs: FakeEcs;
  readonly batchCompute: FakeBatchCompute;
  readonly injected: InjectedError[] = [];
  /** Every request's outcome, so tests can assert that a bad signature was seen and refused. */
  readonly log: { kind: 'rpc' | 'roa' | 'metadata' | 'control'; what: string; status: number; code?: string }[] = [];
  private readonly accessKeys: Record<string, string>;
  private readonly usedNonces = new Set<string>();
  private readonly now: () => number;
  private server: Server | undefined;
  url = '';

  constructor(private readonly options: FakeAlibabaOptions = {}) {
    this.accessKeys = options.accessKeys ?? { 'qfarm-test-key': 'qfarm-test-secret' };
    this.now = options.now ?? Date.now;
    this.ecs = new FakeEcs({ now: this.now, ...options.ecs });
    this.batchCompute = new FakeBatchCompute(options.batchCompute);
  }

  /** Makes the next `times` calls matching `match` fail with `code` (e.g. Throttling.User, OperationDenied.NoStock). */
  failNext(match: string, code: string, times = 1, message = `injected ${code}`, status?: number): void {
    this.injected.push({ match, code, message, remaining: times, ...(status === undefined ? {} : { status }) });
  }

  /** Base URL of one instance's metadata service (what the agent would reach at 100.100.100.200). */
  metadataUrl(instanceId: string): string {
    return `${this.url}/metadata/${instanceId}`;
  }

  async listen(port = 0, host = this.options.host ?? '127.0.0.1'): Promise<string> {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        this.send(res, 500, errorBody('fake', 'InternalError', (err as Error).message));
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    this.url = `http://${host}:${addr.port}`;
    return this.url;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private takeInjected(what: string): InjectedError | undefined {
    const i = this.injected.findIndex((e) => e.remaining > 0 && (e.match === '*' || e.match === what || what.startsWith(e.match)));
    if (i < 0) return undefined;
    const e = this.injected[i]!;
    e.remaining -= 1;
    if (e.remaining <= 0) this.injected.splice(i, 1);
    return e;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname.startsWith('/metadata/')) return this.metadata(req, res, url);
    if (url.pathname.startsWith('/_fake/')) return this.control(req, res, url, body);
    if (url.pathname.startsWith('/clusters')) return this.roa(req, res, url, body);
    return this.rpc(req, res, url, body);
  }

  /** The call took effect but the answer is lost (connection reset): what a ClientToken retry is for. */
  private drop(res: ServerResponse, kind: 'rpc' | 'roa', what: string): void {
    this.log.push({ kind, what, status: 0, code: DROP_RESPONSE });
    res.socket?.destroy();
  }

  private send(res: ServerResponse, status: number, body: unknown, type = 'application/json;charset=utf-8'): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  // ------------------------------------------------------------------ ECS RPC
  private rpc(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): void {
    const host = 'ecs.fake.aliyuncs.com';
    const params: Record<string, string> = { ...parseEncodedPairs(url.search.slice(1)) };
    if (req.method === 'POST' && /x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')) {
      Object.assign(params, parseEncodedPairs(body.toString('utf8')));
    }
    const action = params.Action ?? '';
    const fail = (status: number, code: string, message: string): void => {
      this.log.push({ kind: 'rpc', what: action, status, code });
      this.send(res, status, errorBody(host, code, message));
    };
    try {
      this.verifyRpc(req.method ?? 'GET', params);
    } catch (err) {
      if (err instanceof FakeApiError) return fail(err.status, err.code, err.message);
      throw err;
    }
    const injected = this.takeInjected(action);
    if (injected && injected.code !== DROP_RESPONSE) return fail(injected.status ?? statusForCode(injected.code), injected.code, injected.message);
    try {
      const result = this.ecs.handle(action, params);
      if (injected) return this.drop(res, 'rpc', action);
      this.log.push({ kind: 'rpc', what: action, status: 200 });
      this.send(res, 200, result);
    } catch (err) {
      if (err instanceof FakeApiError) return fail(err.status, err.code, err.message);
      throw err;
    }
  }

  private verifyRpc(method: string, p: Record<string, string>): void {
    for (const name of ['AccessKeyId', 'Signature', 'SignatureMethod', 'SignatureNonce', 'Timestamp']) {
      if (!p[name]) throw new FakeApiError(400, 'IncompleteSignature', `The request signature does not conform to Aliyun standards: ${name} is missing.`);
    }
    const secret = this.accessKeys[p.AccessKeyId!];
    if (secret === undefined) throw new FakeApiError(404, 'InvalidAccessKeyId.NotFound', `Specified access key is not found: ${p.AccessKeyId}.`);
    if (p.SignatureMethod !== 'HMAC-SHA1' || p.SignatureVersion !== '1.0') {
      throw new FakeApiError(400, 'IncompleteSignature', 'SignatureMethod must be HMAC-SHA1 and SignatureVersion 1.0.');
    }
    if (p.Version !== ECS_VERSION) throw new FakeApiError(400, 'InvalidVersion', `Specified parameter Version is not valid: ${p.Version}.`);
    const ts = Date.parse(p.Timestamp!);
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(p.Timestamp!) || Math.abs(this.now() - ts) > (this.options.maxSkewMs ?? 15 * 60_000)) {
      throw new FakeApiError(400, 'InvalidTimeStamp.Expired', `Specified time stamp or date value is expired: ${p.Timestamp}.`);
    }
    const stringToSign = rpcStringToSign(method, p);
    const expected = rpcSignature(secret, stringToSign);
    if (expected !== p.Signature) {
      throw new FakeApiError(400, 'SignatureDoesNotMatch', `Specified signature is not matched with our calculation. server string to sign is:${stringToSign}`);
    }
    if (this.usedNonces.has(p.SignatureNonce!)) throw new FakeApiError(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
    this.usedNonces.add(p.SignatureNonce!);
  }

  // ------------------------------------------------------------------ BatchCompute ROA
  private roa(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): void {
    const method = req.method ?? 'GET';
    const what = `${method} ${url.pathname}`;
    const fail = (status: number, code: string, message: string): void => {
      this.log.push({ kind: 'roa', what, status, code });
      this.send(res, status, errorBody('batchcompute.fake.aliyuncs.com', code, message));
    };
    const query = Object.fromEntries(Object.entries(parseQuery(url.search.slice(1))).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]));
    try {
      this.verifyRoa(method, url.pathname, query, req.headers as Record<string, string | string[] | undefined>, body);
    } catch (err) {
      if (err instanceof FakeApiError) return fail(err.status, err.code, err.message);
      throw err;
    }
    const injected = this.takeInjected(what);
    if (injected && injected.code !== DROP_RESPONSE) return fail(injected.status ?? statusForCode(injected.code), injected.code, injected.message);
    let parsed: unknown = null;
    if (body.length > 0) {
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        return fail(400, 'InvalidBody', 'The request body is not valid JSON.');
      }
    }
    try {
      const out = this.batchCompute.handle(method, url.pathname, query, parsed);
      if (injected) return this.drop(res, 'roa', what);
      this.log.push({ kind: 'roa', what, status: out.status });
      this.send(res, out.status, out.body);
    } catch (err) {
      if (err instanceof FakeApiError) return fail(err.status, err.code, err.message);
      throw err;
    }
  }

  private verifyRoa(method: string, path: string, query: Record<string, string>, headers: Record<string, string | string[] | undefined>, body: Buffer): void {
    const auth = String(headers.authorization ?? '');
    const m = /^acs ([^:]+):(.+)$/.exec(auth);
    if (!m) throw new FakeApiError(400, 'IncompleteSignature', 'The Authorization header is missing or not "acs AccessKeyId:Signature".');
    const [, keyId, signature] = m;
    const secret = this.accessKeys[keyId!];
    if (secret === undefined) throw new FakeApiError(404, 'InvalidAccessKeyId.NotFound', `Specified access key is not found: ${keyId}.`);
    const date = Date.parse(String(headers.date ?? ''));
    if (!(Math.abs(this.now() - date) <= (this.options.maxSkewMs ?? 15 * 60_000))) {
      throw new FakeApiError(400, 'InvalidTimeStamp.Expired', 'The Date header is missing or more than 15 minutes off.');
    }
    if (headers['x-acs-version'] !== BATCHCOMPUTE_VERSION) throw new FakeApiError(400, 'InvalidVersion', `x-acs-version must be ${BATCHCOMPUTE_VERSION}.`);
    if (headers['content-md5'] !== undefined && headers['content-md5'] !== md5Base64(body)) {
      throw new FakeApiError(400, 'InvalidDigest', 'The Content-MD5 you specified did not match what we received.');
    }
    const stringToSign = roaStringToSign(method, path, query, headers);
    if (roaSignature(secret, stringToSign) !== signature) {
      throw new FakeApiError(403, 'SignatureDoesNotMatch', `The request signature we calculated does not match the signature you provided. StringToSign: ${JSON.stringify(stringToSign)}`);
    }
  }

  // ------------------------------------------------------------------ metadata
  private metadata(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const [, , instanceId, ...rest] = url.pathname.split('/');
    const sub = '/' + rest.join('/');
    const inst = this.ecs.instances.get(instanceId ?? '');
    const text = (status: number, value: string): void => {
      this.log.push({ kind: 'metadata', what: sub, status });
      this.send(res, status, value, 'text/plain');
    };
    if (sub === '/latest/api/token' && req.method === 'PUT') return text(200, `fake-metadata-token-${instanceId}`);
    if (!inst) return text(404, 'Not Found');
    switch (sub) {
      case '/latest/meta-data/instance/spot/termination-time':
        return inst.terminationTime ? text(200, inst.terminationTime) : text(404, 'Not Found');
      case '/latest/meta-data/instance-id':
        return text(200, inst.InstanceId);
      case '/latest/meta-data/instance/instance-type':
        return text(200, inst.InstanceType);
      case '/latest/meta-data/private-ipv4':
        return text(200, inst.PrivateIp);
      case '/latest/meta-data/region-id':
        return text(200, inst.RegionId);
      case '/latest/meta-data/hostname':
        return text(200, inst.HostName);
      case '/latest/user-data':
        return text(200, inst.userData);
      default:
        return text(404, 'Not Found');
    }
  }

  // ------------------------------------------------------------------ test controls (standalone use)
  private control(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer): void {
    const log = (status: number): void => void this.log.push({ kind: 'control', what: url.pathname, status });
    if (url.pathname === '/_fake/state' && req.method === 'GET') {
      log(200);
      return this.send(res, 200, {
        instances: [...this.ecs.instances.values()].map((i) => ({ id: i.InstanceId, type: i.InstanceType, tags: i.Tags, terminationTime: i.terminationTime ?? null })),
        clusters: [...this.batchCompute.clusters.values()].map((c) => ({ id: c.Id, groups: Object.fromEntries([...c.groups].map(([n, g]) => [n, g.instances.length])) })),
      });
    }
    if (url.pathname === '/_fake/interrupt' && req.method === 'POST') {
      const id = url.searchParams.get('instance') ?? '';
      if (!this.ecs.instances.has(id)) {
        log(404);
        return this.send(res, 404, { error: `no instance ${id}` });
      }
      log(200);
      return this.send(res, 200, { terminationTime: this.ecs.interrupt(id, Number(url.searchParams.get('inMs') ?? 300_000)) });
    }
    if (url.pathname === '/_fake/fail' && req.method === 'POST') {
      const spec = JSON.parse(body.toString('utf8') || '{}') as { match?: string; code?: string; times?: number };
      if (!spec.match || !spec.code) {
        log(400);
        return this.send(res, 400, { error: 'need {"match", "code", "times"}' });
      }
      this.failNext(spec.match, spec.code, spec.times ?? 1);
      log(200);
      return this.send(res, 200, { ok: true });
    }
    if (url.pathname === '/_fake/cluster' && req.method === 'POST') {
      const spec = JSON.parse(body.toString('utf8') || '{}') as { name?: string; groups?: Record<string, { instanceType: string; desired?: number }> };
      log(200);
      return this.send(res, 200, { id: this.batchCompute.addCluster(spec.name ?? 'qfarm', spec.groups ?? { group1: { instanceType: 'ecs.sn1ne.large' } }) });
    }
    log(404);
    this.send(res, 404, { error: 'unknown control' });
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 1024 * 1024) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
