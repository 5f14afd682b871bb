/**
 * Server-side verification of OSS request signatures, V1 (`OSS AK:sig`, HMAC-SHA1) and
 * V4 (`OSS4-HMAC-SHA256`), recomputed from what arrived on the wire as OSS documents them.
 * On a mismatch the caller answers SignatureDoesNotMatch with the StringToSign we computed,
 * which is what the real service does and what makes a client bug easy to see.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export interface FakeOssKey {
  accessKeyId: string;
  accessKeySecret: string;
  /** When set, requests with this key must carry this `x-oss-security-token` (STS). */
  securityToken?: string;
}

export interface SignedRequest {
  method: string;
  bucket: string;
  /** Decoded object key; '' for bucket operations. */
  key: string;
  /** Decoded query parameters in arrival order. */
  query: [string, string][];
  headers: IncomingHttpHeaders;
}

export type SignatureCheck =
  | { ok: true; accessKeyId: string; requestTime: number }
  | { ok: false; code: 'AccessDenied' | 'InvalidAccessKeyId' | 'InvalidArgument' | 'InvalidSecurityToken'; message: string; accessKeyId?: string }
  | { ok: false; code: 'SignatureDoesNotMatch'; message: string; accessKeyId: string; stringToSign: string }
  | { ok: false; code: 'RequestTimeTooSkewed'; message: string; accessKeyId: string; requestTime: string };

/** Query parameters OSS treats as sub-resources in the V1 CanonicalizedResource. */
export const V1_SUB_RESOURCES = new Set([
  'acl', 'uploads', 'location', 'cors', 'logging', 'website', 'referer', 'lifecycle', 'delete', 'append',
  'tagging', 'objectMeta', 'uploadId', 'partNumber', 'security-token', 'position', 'img', 'style',
  'styleName', 'replication', 'replicationProgress', 'replicationLocation', 'cname', 'bucketInfo', 'comp',
  'qos', 'live', 'status', 'vod', 'startTime', 'endTime', 'symlink', 'x-oss-process',
  'response-content-type', 'response-content-language', 'response-expires', 'response-cache-control',
  'response-content-disposition', 'response-content-encoding', 'udf', 'udfName', 'udfImage', 'udfId',
  'udfImageDesc', 'udfApplication', 'udfApplicationLog', 'restore', 'callback', 'callback-var', 'policy',
  'stat', 'encryption', 'versions', 'versioning', 'versionId', 'continuation-token', 'worm', 'wormId',
  'wormExtend', 'inventory', 'inventoryId', 'requestPayment', 'x-oss-traffic-limit', 'x-oss-request-payer',
]);

/** Fifteen minutes, OSS's documented limit. */
export const MAX_SKEW_MS = 15 * 60 * 1000;

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** RFC 3986 encoding as OSS V4 uses it (encodeURIComponent plus !'()*). */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalOssHeaders(headers: IncomingHttpHeaders): string[] {
  return Object.keys(headers)
    .filter((k) => k.startsWith('x-oss-'))
    .sort()
    .map((k) => `${k}:${(header(headers, k) ?? '').trim()}`);
}

export function v1StringToSign(req: SignedRequest): string {
  const h = req.headers;
  const date = header(h, 'x-oss-date') ?? header(h, 'date') ?? '';
  const sub = req.query
    .filter(([k]) => V1_SUB_RESOURCES.has(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => (v === '' ? k : `${k}=${v}`));
  const resource = `/${req.bucket}/${req.key}` + (sub.length ? `?${sub.join('&')}` : '');
  return [
    req.method.toUpperCase(),
    header(h, 'content-md5') ?? '',
    header(h, 'content-type') ?? '',
    date,
    ...canonicalOssHeaders(h),
    resource,
  ].join('\n');
}

export function v4CanonicalRequest(req: SignedRequest, additional: string[]): string {
  const h = req.headers;
  const uri = uriEncode(`/${req.bucket}/${req.key}`).replace(/%2F/g, '/');
  const query = req.query
    .map(([k, v]) => [uriEncode(k), v === '' ? '' : uriEncode(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => (v === '' ? k : `${k}=${v}`))
    .join('&');
  const names = new Set<string>(additional);
  for (const k of Object.keys(h)) {
    if (k === 'content-type' || k === 'content-md5' || k.startsWith('x-oss-')) names.add(k);
  }
  const canonicalHeaders = [...names]
    .sort()
    .map((k) => `${k}:${(header(h, k) ?? '').trim()}\n`)
    .join('');
  return [
    req.method.toUpperCase(),
    uri,
    query,
    canonicalHeaders,
    additional.join(';'),
    header(h, 'x-oss-content-sha256') ?? 'UNSIGNED-PAYLOAD',
  ].join('\n');
}

function parseV4Time(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return NaN;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

/**
 * Verify the request's Authorization header against `keys`. `now` is the server's clock
 * (which fault injection may skew).
 */
export function verifySignature(req: SignedRequest, keys: Map<string, FakeOssKey>, now: number): SignatureCheck {
  const auth = header(req.headers, 'authorization');
  if (!auth) return { ok: false, code: 'AccessDenied', message: 'You have no right to access this object because of bucket acl.' };

  let accessKeyId: string;
  let verify: (secret: string) => { match: boolean; stringToSign: string };
  let requestTime: number;
  let requestTimeText: string;

  if (auth.startsWith('OSS ')) {
    const m = /^OSS ([^:]+):(.+)$/.exec(auth);
    if (!m) return { ok: false, code: 'InvalidArgument', message: 'Authorization header is invalid.' };
    accessKeyId = m[1]!;
    const provided = m[2]!;
    requestTimeText = header(req.headers, 'x-oss-date') ?? header(req.headers, 'date') ?? '';
    requestTime = Date.parse(requestTimeText);
    verify = (secret) => {
      const stringToSign = v1StringToSign(req);
      const sig = createHmac('sha1', secret).update(Buffer.from(stringToSign, 'utf8')).digest('base64');
      return { match: safeEqual(sig, provided), stringToSign };
    };
  } else if (auth.startsWith('OSS4-HMAC-SHA256 ')) {
    const fields = new Map<string, string>();
    for (const part of auth.slice('OSS4-HMAC-SHA256 '.length).split(',')) {
      const eq = part.indexOf('=');
      if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    const credential = fields.get('Credential');
    const provided = fields.get('Signature');
    const scope = credential?.split('/');
    if (!scope || scope.length !== 5 || !provided || scope[3] !== 'oss' || scope[4] !== 'aliyun_v4_request') {
      return { ok: false, code: 'InvalidArgument', message: 'Authorization header is invalid (V4 Credential/Signature).' };
    }
    const [id, day, region] = scope as [string, string, string, string, string];
    accessKeyId = id;
    const additional = (fields.get('AdditionalHeaders') ?? '').split(';').filter(Boolean).map((s) => s.toLowerCase());
    requestTimeText = header(req.headers, 'x-oss-date') ?? '';
    requestTime = parseV4Time(requestTimeText);
    if (!requestTimeText.startsWith(day)) {
      return { ok: false, code: 'InvalidArgument', message: 'Invalid signing date in Authorization header.', accessKeyId };
    }
    verify = (secret) => {
      const canonical = v4CanonicalRequest(req, additional);
      const stringToSign = [
        'OSS4-HMAC-SHA256',
        requestTimeText,
        `${day}/${region}/oss/aliyun_v4_request`,
        createHash('sha256').update(canonical).digest('hex'),
      ].join('\n');
      const kDate = createHmac('sha256', `aliyun_v4${secret}`).update(day).digest();
      const kRegion = createHmac('sha256', kDate).update(region).digest();
      const kProduct = createHmac('sha256', kRegion).update('oss').digest();
      const kSigning = createHmac('sha256', kProduct).update('aliyun_v4_request').digest();
      const sig = createHmac('sha256', kSigning).update(stringToSign).digest('hex');
      return { match: safeEqual(sig, provided), stringToSign };
    };
  } else {
    return { ok: false, code: 'InvalidArgument', message: 'Authorization header is invalid.' };
  }

  const key = keys.get(accessKeyId);
  if (!key) return { ok: false, code: 'InvalidAccessKeyId', message: 'The OSS Access Key Id you provided does not exist in our records.', accessKeyId };
  if (!Number.isFinite(requestTime)) {
    return { ok: false, code: 'AccessDenied', message: 'OSS authentication requires a valid Date.', accessKeyId };
  }
  if (Math.abs(now - requestTime) > MAX_SKEW_MS) {
    return {
      ok: false,
      code: 'RequestTimeTooSkewed',
      message: 'The difference between the request time and the current time is too large.',
      accessKeyId,
      requestTime: requestTimeText,
    };
  }
  const { match, stringToSign } = verify(key.accessKeySecret);
  if (!match) {
    return {
      ok: false,
      code: 'SignatureDoesNotMatch',
      message: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      accessKeyId,
      stringToSign,
    };
  }
  if (key.securityToken !== undefined && header(req.headers, 'x-oss-security-token') !== key.securityToken) {
    return { ok: false, code: 'InvalidSecurityToken', message: 'The security token you provided is invalid.', accessKeyId };
  }
  return { ok: true, accessKeyId, requestTime };
}
