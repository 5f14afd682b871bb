import { createReadStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { OssError, writeAll, type Exchange, type OssEnv } from './exchange.js';
import { objectMeta, receiveBody } from './request-body.js';

/** PutObject: stores the body; answers its ETag (upper-case MD5) and CRC-64. */
export async function putObject(env: OssEnv, ex: Exchange): Promise<void> {
  const body = await receiveBody(env, ex);
  const stored = await env.data.commit(
    {
      bucket: ex.bucket,
      key: ex.key,
      size: body.size,
      etag: `"${body.md5.toString('hex').toUpperCase()}"`,
      crc64: body.crc64,
      lastModified: new Date(env.now()).toUTCString(),
      type: 'Normal',
      ...objectMeta(ex),
    },
    body.tmp,
  );
  env.replies.send(ex, 200, undefined, {
    etag: stored.etag,
    'x-oss-hash-crc64ecma': stored.crc64,
    'content-md5': body.md5.toString('base64'),
  });
}

/** GetObject and HeadObject: If-Match, If-None-Match, Range; the body streamed with its faults. */
export async function getObject(env: OssEnv, ex: Exchange, headOnly: boolean): Promise<void> {
  const obj = env.data.get(ex.bucket, ex.key);
  if (!obj) throw new OssError(404, 'NoSuchKey', 'The specified key does not exist.');
  const ifMatch = ex.req.headers['if-match'];
  if (typeof ifMatch === 'string' && ifMatch !== obj.etag && ifMatch !== '*') {
    throw new OssError(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.', {
      Condition: 'If-Match',
    });
  }
  const ifNoneMatch = ex.req.headers['if-none-match'];
  const headers: Record<string, string> = {
    ...env.replies.baseHeaders(ex),
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
    ex.record.status = 304;
    ex.res.writeHead(304, headers);
    ex.res.end();
    return;
  }
  let start = 0;
  let end = obj.size - 1;
  let status = 200;
  const range = parseRange(ex.req.headers.range, obj.size);
  if (range) {
    [start, end] = range;
    status = 206;
    headers['content-range'] = `bytes ${start}-${end}/${obj.size}`;
  }
  const length = Math.max(0, end - start + 1);
  headers['content-length'] = String(length);
  ex.record.status = status;
  if (headOnly) {
    headers['content-length'] = String(obj.size);
    ex.res.writeHead(200, headers);
    ex.res.end();
    return;
  }
  ex.res.writeHead(status, headers);
  if (length === 0) {
    ex.res.end();
    return;
  }
  await streamBody(env, ex, obj.file, start, end, length);
}

/** DeleteObject: 204 whether or not the key existed, as OSS. */
export async function deleteObject(env: OssEnv, ex: Exchange): Promise<void> {
  await env.data.delete(ex.bucket, ex.key);
  env.replies.send(ex, 204);
}

/** Stream [start, end] of a file, applying reset/corrupt faults. */
async function streamBody(env: OssEnv, ex: Exchange, file: string, start: number, end: number, length: number): Promise<void> {
  const fault = ex.fault;
  const resetAt = fault?.kind === 'reset' ? Math.min(fault.spec.afterBytes ?? Math.floor(length / 2), length - 1) : -1;
  let corruptPending = fault?.kind === 'corrupt';
  let sent = 0;
  const res = ex.res;
  const input = createReadStream(file, { start, end, highWaterMark: 256 * 1024 });
  try {
    for await (const c of input) {
      let chunk = c as Buffer;
      if (resetAt >= 0 && sent + chunk.length > resetAt) {
        const head = chunk.subarray(0, resetAt - sent);
        if (head.length) await writeAll(res, head);
        ex.record.status = -1;
        // Let the bytes leave, then kill the socket mid-body.
        await sleep(5, undefined, { signal: env.closing }).catch(() => undefined);
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
