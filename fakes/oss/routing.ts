import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/** Where a request points: an admin route, or a bucket and (still encoded) key. */
export type Address = { admin: true } | { admin: false; bucket: string; keyPath: string };

/**
 * A Host that is an IP or `localhost` means path-style (`/bucket/key`, and the admin routes);
 * any other Host means virtual-hosted style (bucket = first label).
 */
export function addressOf(req: IncomingMessage, url: URL): Address {
  const hostHeader = req.headers.host ?? '';
  const hostname = hostHeader.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const pathStyle = isIP(hostname) !== 0 || hostname === 'localhost';
  if (!pathStyle) return { admin: false, bucket: hostname.split('.')[0] ?? '', keyPath: url.pathname.slice(1) };
  if (url.pathname.startsWith('/_fake/')) return { admin: true };
  const rest = url.pathname.slice(1);
  const slash = rest.indexOf('/');
  return { admin: false, bucket: decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash)), keyPath: slash < 0 ? '' : rest.slice(slash + 1) };
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
