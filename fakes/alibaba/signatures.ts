import { createHash, createHmac } from 'node:crypto';

/**
 * Alibaba's two request signatures, recomputed on the server side from the documented algorithms
 * (ECS "Signature mechanism"; BatchCompute "Signature"), independently of pop-core's code.
 */

/** RFC 3986 percent-encoding as Alibaba's RPC signature wants it (space → %20, keeps ~). */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** RPC: HMAC-SHA1(secret + "&", METHOD&%2F&enc(sorted k=v&…)) over every parameter but Signature. */
export function rpcStringToSign(method: string, params: Record<string, string>): string {
  const canonical = Object.keys(params)
    .filter((k) => k !== 'Signature')
    .sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(params[k] ?? '')}`)
    .join('&');
  return `${method.toUpperCase()}&${percentEncode('/')}&${percentEncode(canonical)}`;
}

export function rpcSignature(secret: string, stringToSign: string): string {
  return createHmac('sha1', secret + '&').update(stringToSign, 'utf8').digest('base64');
}

/** Splits `a=1&b=2` percent-decoding each side (no `+` → space: Alibaba clients send %20). */
export function parseEncodedPairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const k = eq < 0 ? pair : pair.slice(0, eq);
    const v = eq < 0 ? '' : pair.slice(eq + 1);
    out[decodeURIComponent(k)] = decodeURIComponent(v);
  }
  return out;
}

/**
 * ROA: VERB\nAccept\nContent-MD5\nContent-Type\nDate\n + x-acs-* headers (lowercase, sorted,
 * "k:v\n", whitespace folded) + path [+ "?" + sorted k=v joined by &, values not encoded].
 */
export function roaStringToSign(method: string, path: string, query: Record<string, string>, headers: Record<string, string | string[] | undefined>): string {
  const h = (name: string): string => {
    const v = headers[name];
    return Array.isArray(v) ? v.join(',') : (v ?? '');
  };
  const acs = Object.keys(headers)
    .map((k) => k.toLowerCase())
    .filter((k) => k.startsWith('x-acs-'))
    .sort()
    .map((k) => `${k}:${h(k).replace(/[\t\n\r\f]/g, ' ').trim()}\n`)
    .join('');
  const keys = Object.keys(query).sort();
  const resource = keys.length === 0 ? path : `${path}?${keys.map((k) => `${k}=${query[k]}`).join('&')}`;
  return `${method.toUpperCase()}\n${h('accept')}\n${h('content-md5')}\n${h('content-type')}\n${h('date')}\n${acs}${resource}`;
}

export function roaSignature(secret: string, stringToSign: string): string {
  return createHmac('sha1', secret).update(Buffer.from(stringToSign, 'utf8')).digest('base64');
}

export function md5Base64(body: Buffer): string {
  return createHash('md5').update(body).digest('base64');
}
