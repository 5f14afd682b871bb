import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Crc64 } from '../../storage/crc64.js';
import { OssError, type Exchange, type OssEnv } from './exchange.js';

export interface ReceivedBody {
  /** Temp file in the object store holding the body; the caller commits or removes it. */
  tmp: string;
  size: number;
  md5: Buffer;
  crc64: string;
}

/**
 * Receives a request body into a temp file, hashing it as OSS does; applies reset/corrupt
 * faults. A Content-MD5 that does not match is InvalidDigest, as on OSS.
 */
export async function receiveBody(env: OssEnv, ex: Exchange): Promise<ReceivedBody> {
  const tmp = env.data.tempPath();
  const out = createWriteStream(tmp);
  const md5 = createHash('md5');
  const crc = new Crc64();
  let size = 0;
  const declared = Number(ex.req.headers['content-length'] ?? NaN);
  const fault = ex.fault;
  const resetAt = fault?.kind === 'reset' ? (fault.spec.afterBytes ?? (Number.isFinite(declared) ? Math.floor(declared / 2) : 0)) : -1;
  let corruptPending = fault?.kind === 'corrupt';
  try {
    for await (const c of ex.req) {
      let chunk = c as Buffer;
      if (resetAt >= 0 && size + chunk.length >= resetAt) {
        ex.record.status = -1;
        ex.req.socket.destroy();
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
  const sent = ex.req.headers['content-md5'];
  if (typeof sent === 'string' && sent !== digest.toString('base64')) {
    await rm(tmp, { force: true });
    throw new OssError(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.', { 'Content-MD5': sent });
  }
  return { tmp, size, md5: digest, crc64: crc.toString() };
}

/** Content-Type and `x-oss-meta-*` headers of an upload, kept with the object. */
export function objectMeta(ex: Exchange): { contentType: string; meta: Record<string, string> } {
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(ex.req.headers)) {
    if (k.startsWith('x-oss-meta-') && typeof v === 'string') meta[k.slice('x-oss-meta-'.length)] = v;
  }
  const ct = ex.req.headers['content-type'];
  return { contentType: typeof ct === 'string' && ct ? ct : 'application/octet-stream', meta };
}
