/**
 * Reads of OSS objects that survive resets: a range that breaks off is re-requested from where
 * it stopped, with `If-Match` so every piece comes from one version of the object, and the
 * CRC-64 of what arrived is compared with OSS's. download() fetches big objects in parallel
 * ranges into a temp file and renames it into place only when verified.
 */
import { randomBytes } from 'node:crypto';
import { open, mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { RetriesExhaustedError, retry, sleepMs } from '../retry/retry.js';
import { delayFor } from '../retry/retry-policy.js';
import { forEachConcurrent } from './concurrency.js';
import { combineCrc64, Crc64, parseCrc64Header } from './crc64.js';
import { CrcMismatchError, ObjectChangedError, OssRequestError, StorageError } from './errors.js';
import type { ObjectMeta } from './object-store.js';
import { isAliOssError } from './oss-error-map.js';
import { metaFromHeaders, type OssSession } from './oss-session.js';

/** get() that also fills `info` from the first response's headers (saves a HEAD). */
export async function openVerifiedRead(session: OssSession, key: string, info: ObjectMeta): Promise<Readable> {
  // The first response (or its error) arrives before we hand out the stream, so a missing
  // key or a bad secret rejects here rather than surfacing as a stream error.
  const iterator = readVerified(session, key, info)[Symbol.asyncIterator]();
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
async function* readVerified(session: OssSession, key: string, info: ObjectMeta): AsyncGenerator<Buffer> {
  let remoteCrc: string | undefined;
  const crc = new Crc64();
  const onFirst = (h: Record<string, string | undefined>) => {
    remoteCrc = parseCrc64Header(h['x-oss-hash-crc64ecma']);
    Object.assign(info, metaFromHeaders(key, h));
  };
  for await (const buf of readRange(session, key, 0, undefined, undefined, onFirst)) {
    crc.update(buf);
    yield buf;
  }
  if (remoteCrc !== undefined && crc.toString() !== remoteCrc) {
    throw new CrcMismatchError(session.urlFor(key), 'download', crc.toString(), remoteCrc);
  }
}

/**
 * Bytes [from, to] of an object (to the end when `to` is undefined). After a reset or an idle
 * timeout it re-requests only the rest, with `If-Match: <etag>` so all pieces come from one
 * version of the object. `onFirst` sees the first response's headers (ETag, CRC, size).
 */
async function* readRange(
session: OssSession,
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
        r = await (await session.client()).getStream(key, { headers, timeout: session.timeoutMs() });
      } catch (err) {
        if (etag && isAliOssError(err) && err.status === 412) {
          throw new ObjectChangedError(session.urlFor(key), etag, '(changed)');
        }
        // A streamed GET's error body is not read by ali-oss (UnknownError); HEAD carries the
        // error in x-oss-err, so ask it for the precise reason (signature, denied, missing).
        if (isAliOssError(err) && err.name === 'UnknownError' && (err.status ?? 0) >= 400 && (err.status ?? 0) < 500) {
          await session.head(key);
        }
        throw session.mapError(err, 'GetObject', key);
      }
      stream = r.stream;
      const h = r.res.headers;
      if (r.res.status === 206) {
        const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(h['content-range'] ?? '');
        if (!m || Number(m[1]) !== offset) {
          throw new OssRequestError('GetObject', session.urlFor(key), 206, 'BadContentRange', h['x-oss-request-id'], `asked for bytes ${offset}-, got "${h['content-range']}"`, true);
        }
        if (end === -2) end = Number(m[2]);
      } else if (offset > 0) {
        throw new OssRequestError('GetObject', session.urlFor(key), r.res.status, 'RangeIgnored', h['x-oss-request-id'], 'the server ignored Range on resume', false);
      } else if (end === -2) {
        end = Number(h['content-length'] ?? 0) - 1; // whole object (an empty one has no range)
      }
      if (!seenFirst) {
        seenFirst = true;
        etag ??= h.etag;
        onFirst(h, r.res.status);
      }
      for await (const chunk of withIdleTimeout(stream, session.timeoutMs(), session.urlFor(key))) {
        const buf = chunk as Buffer;
        offset += buf.length;
        yield buf;
      }
      if (offset !== end + 1) {
        throw new OssRequestError('GetObject', session.urlFor(key), -1, 'IncompleteBody', undefined, `got bytes up to ${offset}, expected ${end + 1}`, true);
      }
      return;
    } catch (err) {
      stream?.destroy();
      if (err instanceof RetriesExhaustedError) throw err; // the HEAD asked for a reason: already retried
      // Request-phase errors were mapped above; anything else broke the body mid-stream (a reset).
      const mapped =
        err instanceof StorageError
          ? err
          : new OssRequestError('GetObject', session.urlFor(key), -1, (err as NodeJS.ErrnoException).code ?? 'BodyError', undefined, (err as Error).message, true);
      if (!mapped.retryable || mapped instanceof ObjectChangedError) throw mapped;
      if (attempt >= session.policy.maximumAttempts) throw new RetriesExhaustedError(`OSS GetObject ${session.urlFor(key)}`, attempt, mapped);
      await session.beforeRetry(mapped);
      await sleepMs(delayFor(session.policy, attempt));
    }
  }
}

/**
 * Download to `path` atomically. The first request asks for the first part; if the object is
 * bigger, the other parts are fetched `ranges.parallel` at a time into their offsets of the
 * temp file, each with its own CRC, combined in order and compared with OSS's CRC-64.
 * Resets resume inside each range; a CRC mismatch (or a change of the object) starts over.
 */
export async function downloadInRanges(session: OssSession, key: string, path: string, ranges: { partSize: number; parallel: number }): Promise<ObjectMeta> {
  await mkdir(dirname(path), { recursive: true });
  const { partSize } = ranges;
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
        for await (const buf of readRange(session, key, start, end, etag, etag ? () => undefined : onFirst)) {
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
        await forEachConcurrent(starts.keys(), ranges.parallel, async (i) => {
          results[i] = await fetchPart(starts[i]!, Math.min(total, starts[i]! + partSize) - 1, meta.etag);
        });
        parts.push(...results);
      }
      await fh.close();
      let combined = 0n;
      for (const p of parts) combined = combineCrc64(combined, p.crc, p.length);
      if (remoteCrc !== undefined && combined.toString(10) !== remoteCrc) {
        throw new CrcMismatchError(session.urlFor(key), 'download', combined.toString(10), remoteCrc);
      }
      await rename(tmp, path);
      return meta;
    } catch (err) {
      await fh.close().catch(() => undefined); // already closed on the success path
      await rm(tmp, { force: true });
      throw unwrapExhausted(err);
    }
  }, session.policy, { operation: `OSS download ${session.urlFor(key)} → ${path}`, isRetryable: retryWhole });
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
