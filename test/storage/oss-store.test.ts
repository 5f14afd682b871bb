import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Readable } from 'node:stream';
import { crc64 } from '../../storage/crc64.js';
import { CrcMismatchError, ObjectNotFoundError, OssAuthError } from '../../storage/errors.js';
import { RetriesExhaustedError } from '../../retry/retry.js';
import { StaticCredentials } from '../../storage/oss-credentials.js';
import { BUCKET, KEY_ID, SECRET, readAll, startOss } from './oss-fixture.js';

const fx = await startOss();
t.teardown(() => fx.close());
t.beforeEach(() => {
  fx.server.faults.clear();
  fx.server.stats.reset();
  fx.server.clockSkewMs = 0;
});

for (const v4 of [false, true]) {
  t.test(`put/get/head/list/delete with signature ${v4 ? 'V4' : 'V1'}`, async (t) => {
    const store = fx.store({ authorizationV4: v4 });
    const key = `sig-${v4 ? 'v4' : 'v1'}/dir with space/a+b é.bin`;
    const body = randomBytes(5000);
    const put = await store.put(key, Readable.from([body]));
    t.equal(put.crc64, crc64(body), 'put returns the verified CRC-64');
    t.same(await readAll(await store.get(key)), body, 'get returns the bytes');
    const head = await store.head(key);
    t.equal(head.size, body.length);
    t.equal(head.crc64, crc64(body));
    const listed = [];
    for await (const m of store.list(`sig-${v4 ? 'v4' : 'v1'}/`)) listed.push(m.key);
    t.same(listed, [key]);
    await store.delete(key);
    await t.rejects(store.head(key), ObjectNotFoundError);
    await t.rejects(store.get(key), ObjectNotFoundError);
    t.ok(fx.server.stats.requests.every((r) => r.status !== 403), 'no request was rejected');
  });
}

t.test('a wrong secret gives a clear error naming bucket and key id, never the secret', async (t) => {
  const wrongSecret = 'definitely-Wrong-Secret-123';
  const store = fx.store({ credentials: new StaticCredentials({ accessKeyId: KEY_ID, accessKeySecret: wrongSecret }, 'test') });
  for (const op of [() => store.head('x'), () => store.put('x', Readable.from([Buffer.from('x')])), () => store.get('x')]) {
    const err = await op().then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof OssAuthError, 'OssAuthError');
    const e = err as OssAuthError;
    t.equal(
      e.message,
      `OSS rejected the signature for bucket "${BUCKET}" with AccessKeyId "${KEY_ID}": check ALIBABA_CLOUD_ACCESS_KEY_SECRET (SignatureDoesNotMatch)`,
    );
    t.equal(e.bucket, BUCKET);
    t.equal(e.accessKeyId, KEY_ID);
    t.notOk(inspect(e, { depth: 10 }).includes(wrongSecret), 'the secret appears nowhere in the error');
    t.notOk(JSON.stringify(e).includes(wrongSecret));
  }
  // head, put, get (+ the HEAD get() uses to learn the reason): nothing retried.
  t.same(fx.server.stats.requests.map((r) => `${r.op}:${r.status}`), ['HeadObject:403', 'PutObject:403', 'GetObject:403', 'HeadObject:403'], 'auth errors are not retried');
});

t.test('an unknown key id is named too', async (t) => {
  const store = fx.store({ credentials: new StaticCredentials({ accessKeyId: 'LTAIunknown', accessKeySecret: SECRET }, 'test') });
  await t.rejects(store.head('x'), { name: 'OssAuthError', message: /AccessKeyId "LTAIunknown".*InvalidAccessKeyId/ });
});

t.test('list pages through more than one page', async (t) => {
  const store = fx.store();
  for (let i = 0; i < 25; i++) await fx.server.seed(BUCKET, `paged/f${String(i).padStart(3, '0')}`, Buffer.from(`x${i}`));
  await fx.server.seed(BUCKET, 'pagedX/other', Buffer.from('no'));
  fx.server.stats.reset();
  const keys: string[] = [];
  for await (const m of store.list('paged/', { pageSize: 7 })) keys.push(m.key);
  t.equal(keys.length, 25);
  t.same(keys, [...keys].sort(), 'in key order');
  t.equal(fx.server.stats.count('ListObjectsV2'), 4, '25 keys at 7 a page = 4 pages');
});

t.test('multipart upload of a file bigger than the part size; CRC checked', async (t) => {
  const store = fx.store({ multipartThreshold: 300 * 1024, partSize: 100 * 1024, parallel: 3 });
  const body = randomBytes(1024 * 1024 + 12345);
  const file = join(fx.tmp, 'mp-big.bin');
  await writeFile(file, body);
  const meta = await store.put('mp/big.bin', file);
  t.equal(meta.crc64, crc64(body));
  t.equal(fx.server.stats.count('UploadPart', { ok: true }), 11);
  t.equal(fx.server.object(BUCKET, 'mp/big.bin')?.type, 'Multipart');
  t.same(await readAll(await store.get('mp/big.bin')), body);
  t.same(await readdir(join(fx.tmp, 'checkpoints')), [], 'checkpoint removed after success');
});

t.test('multipart resumes after a failure midway: finished parts are not sent again', async (t) => {
  const body = randomBytes(100 * 1024 * 6 + 777); // 7 parts
  const file = join(fx.tmp, 'mp-resume.bin');
  await writeFile(file, body);
  const opts = { multipartThreshold: 200 * 1024, partSize: 100 * 1024, parallel: 1 };
  // Part 4 fails once; with a single attempt the upload gives up there, like a crashed agent.
  fx.server.faults.add({ kind: 'status', status: 503, op: 'UploadPart', partNumber: 4, times: 1 });
  await t.rejects(fx.store({ ...opts, retry: { maximumAttempts: 1 } }).put('mp/resume.bin', file), /failed after 1 attempts.*503|ServiceUnavailable/);
  const cps = await readdir(join(fx.tmp, 'checkpoints'));
  t.equal(cps.length, 1, 'the checkpoint survived the failure');
  const cp = JSON.parse(await readFile(join(fx.tmp, 'checkpoints', cps[0]!), 'utf8'));
  t.same(cp.doneParts.map((p: { number: number }) => p.number).sort(), [1, 2, 3], 'parts 1-3 recorded');

  // A new store (a restarted agent) resumes the same upload.
  const meta = await fx.store(opts).put('mp/resume.bin', file);
  t.equal(meta.crc64, crc64(body));
  t.equal(fx.server.stats.count('InitiateMultipartUpload'), 1, 'one upload id, resumed');
  const okParts = fx.server.stats.requests.filter((r) => r.op === 'UploadPart' && r.status === 200).map((r) => r.partNumber);
  t.same([...okParts].sort((a, b) => a! - b!), [1, 2, 3, 4, 5, 6, 7], 'every part uploaded exactly once');
  t.same(await readAll(await fx.store().get('mp/resume.bin')), body);
});

t.test('503s and resets during upload end in correct data', async (t) => {
  const store = fx.store();
  const body = randomBytes(200 * 1024);
  fx.server.faults.add({ kind: 'status', status: 503, code: 'SlowDown', op: 'PutObject', times: 2 });
  fx.server.faults.add({ kind: 'reset', op: 'PutObject', afterBytes: 50_000, times: 1 });
  const meta = await store.put('faults/up.bin', Readable.from([body]));
  t.equal(meta.crc64, crc64(body));
  t.equal(fx.server.stats.count('PutObject'), 4, '2×503 + 1 reset + 1 success');
  t.same(await readAll(await store.get('faults/up.bin')), body);

  // A large file streamed (not buffered) with a reset.
  const big = randomBytes(6 * 1024 * 1024);
  const file = join(fx.tmp, 'stream-up.bin');
  await writeFile(file, big);
  fx.server.faults.add({ kind: 'reset', op: 'PutObject', afterBytes: 1_000_000, times: 1 });
  t.equal((await store.put('faults/stream.bin', file)).crc64, crc64(big));
});

t.test('503s and resets during download end in correct data; resume uses Range', async (t) => {
  const store = fx.store();
  const body = randomBytes(3 * 1024 * 1024);
  await fx.server.seed(BUCKET, 'faults/down.bin', body);
  fx.server.faults.add({ kind: 'status', status: 503, op: 'GetObject', times: 2 });
  fx.server.faults.add({ kind: 'reset', op: 'GetObject', afterBytes: 1_000_000, times: 2 });
  const dest = join(fx.tmp, 'down.bin');
  const meta = await store.download('faults/down.bin', dest);
  t.same(await readFile(dest), body);
  t.equal(meta.crc64, crc64(body));
  t.equal(fx.server.stats.count('GetObject'), 5, '2×503, 2 resets, then the rest');
  t.ok(fx.server.stats.requests.every((r) => r.op !== 'GetObject' || r.status !== 200 || r.range), 'ranged requests');
  const ranges = fx.server.stats.requests.filter((r) => r.op === 'GetObject' && r.range && !r.range.startsWith('bytes=0-')).map((r) => r.range);
  const starts = ranges.map((r) => Number(/^bytes=(\d+)-/.exec(r ?? '')?.[1]));
  t.equal(starts.length, 2, 'two resumed requests');
  t.ok(starts[0]! > 500_000 && starts[1]! > starts[0]! + 500_000, `each resume asks only for the rest (${ranges.join(', ')})`);
  // get() (a stream) resumes too.
  fx.server.faults.add({ kind: 'reset', op: 'GetObject', afterBytes: 123_457, times: 1 });
  t.same(await readAll(await store.get('faults/down.bin')), body);
});

t.test('large downloads go in parallel ranges; faults in one range are retried there; CRC combined', async (t) => {
  const store = fx.store({ downloadPartSize: 256 * 1024, downloadParallel: 4 });
  const body = randomBytes(2 * 1024 * 1024 + 99);
  await fx.server.seed(BUCKET, 'ranged/big.bin', body);
  fx.server.faults.add({ kind: 'reset', op: 'GetObject', afterBytes: 100_000, times: 2 });
  fx.server.faults.add({ kind: 'status', status: 503, op: 'GetObject', times: 1 });
  const dest = join(fx.tmp, 'ranged.bin');
  const meta = await store.download('ranged/big.bin', dest);
  t.same(await readFile(dest), body, 'bytes intact');
  t.equal(meta.size, body.length);
  t.equal(meta.crc64, crc64(body));
  t.ok(fx.server.stats.maxInFlight > 1, `ranges overlapped (max in flight ${fx.server.stats.maxInFlight})`);
  t.ok(fx.server.stats.maxInFlight <= 4);
  // A corrupt range is caught by the combined CRC and the whole download is redone.
  fx.server.stats.reset();
  fx.server.faults.add({ kind: 'corrupt', op: 'GetObject', times: 1 });
  await store.download('ranged/big.bin', dest);
  t.same(await readFile(dest), body, 'correct after a corrupted range');
  t.ok(fx.server.stats.count('GetObject') >= 18, 'downloaded twice (9 ranges each)');
  // An object replaced mid-download (ETag changes) is detected by If-Match and restarted.
  fx.server.stats.reset();
  const body2 = randomBytes(1024 * 1024);
  const dest2 = join(fx.tmp, 'ranged2.bin');
  let replaced = false;
  const orig = fx.server.faults.take.bind(fx.server.faults);
  fx.server.faults.take = (target) => {
    if (!replaced && target.op === 'GetObject') {
      replaced = true;
      void fx.server.seed(BUCKET, 'ranged/big.bin', body2);
    }
    return orig(target);
  };
  t.teardown(() => {
    fx.server.faults.take = orig;
  });
  await store.download('ranged/big.bin', dest2);
  const got = await readFile(dest2);
  t.ok(got.equals(body) || got.equals(body2), 'one consistent version, never a mix');
});

t.test('when retries run out the error is clean, never a success', async (t) => {
  const store = fx.store({ retry: { maximumAttempts: 3, initialIntervalMs: 1, maximumIntervalMs: 5 } });
  fx.server.faults.add({ kind: 'status', status: 503, op: 'PutObject', times: Infinity });
  await t.rejects(store.put('faults/never.bin', Readable.from([Buffer.from('data')])), RetriesExhaustedError);
  t.equal(fx.server.stats.count('PutObject'), 3);
  t.equal(fx.server.object(BUCKET, 'faults/never.bin'), undefined, 'nothing stored');
  fx.server.faults.clear();
  await fx.server.seed(BUCKET, 'faults/dl.bin', randomBytes(100_000));
  fx.server.faults.add({ kind: 'reset', op: 'GetObject', afterBytes: 10_000, times: Infinity });
  const dest = join(fx.tmp, 'never.bin');
  await t.rejects(store.download('faults/dl.bin', dest), RetriesExhaustedError);
  await t.rejects(readFile(dest), { code: 'ENOENT' }, 'no partial file left at the destination');
});

t.test('a corrupted upload body is caught by CRC-64 and re-sent', async (t) => {
  const store = fx.store({ retry: { maximumAttempts: 3, initialIntervalMs: 1, maximumIntervalMs: 5 } });
  const body = randomBytes(64 * 1024);
  fx.server.faults.add({ kind: 'corrupt', op: 'PutObject', times: 1 });
  // Content-MD5 would catch a corrupted buffered PUT first; stream a big file so only CRC can.
  const big = randomBytes(5 * 1024 * 1024);
  const file = join(fx.tmp, 'corrupt-up.bin');
  await writeFile(file, big);
  const meta = await store.put('faults/corrupt.bin', file);
  t.equal(meta.crc64, crc64(big));
  t.same(await readAll(await store.get('faults/corrupt.bin')), big, 'the stored object is correct');
  t.equal(fx.server.stats.count('PutObject'), 2);

  fx.server.faults.add({ kind: 'corrupt', op: 'PutObject', times: Infinity });
  const err = await store.put('faults/corrupt2.bin', file).catch((e: unknown) => e);
  t.ok(err instanceof RetriesExhaustedError && err.lastError instanceof CrcMismatchError, 'CRC mismatch after retries');
  t.match((err as Error).message, /CRC-64 mismatch on upload of oss:\/\/qfarm-test\/faults\/corrupt2\.bin/);
  // The buffered path: Content-MD5 makes OSS refuse the corrupt body.
  fx.server.faults.clear();
  fx.server.faults.add({ kind: 'corrupt', op: 'PutObject', times: 1 });
  t.equal((await store.put('faults/small.bin', Readable.from([body]))).crc64, crc64(body));
});

t.test('a corrupted download body is caught by CRC-64', async (t) => {
  const store = fx.store({ retry: { maximumAttempts: 3, initialIntervalMs: 1, maximumIntervalMs: 5 } });
  const body = randomBytes(300_000);
  await fx.server.seed(BUCKET, 'faults/cd.bin', body);
  fx.server.faults.add({ kind: 'corrupt', op: 'GetObject', times: 1 });
  const dest = join(fx.tmp, 'cd.bin');
  await store.download('faults/cd.bin', dest);
  t.same(await readFile(dest), body, 'download retried after the mismatch');
  fx.server.faults.add({ kind: 'corrupt', op: 'GetObject', times: 1 });
  await t.rejects(readAll(await store.get('faults/cd.bin')), CrcMismatchError, 'a stream ends in an error, not a clean end');
  fx.server.faults.add({ kind: 'corrupt', op: 'GetObject', times: Infinity });
  await t.rejects(store.download('faults/cd.bin', join(fx.tmp, 'cd2.bin')), { name: 'RetriesExhaustedError', message: /CRC-64 mismatch on download/ });
});

t.test('slow answers time out and are retried', async (t) => {
  const store = fx.store({ timeoutMs: 300 });
  await fx.server.seed(BUCKET, 'slow/x', Buffer.from('hello'));
  fx.server.faults.add({ kind: 'slow', delayMs: 1000, op: 'HeadObject', times: 1 });
  t.equal((await store.head('slow/x')).size, 5);
  const heads = fx.server.stats.requests.filter((r) => r.op === 'HeadObject');
  t.ok(heads.length >= 2, 'the slow answer was abandoned and the request sent again');
  t.match(heads[0]!.fault, /^slow#/);
});

t.test('clock skew is corrected from the server Date', async (t) => {
  const store = fx.store();
  fx.server.clockSkewMs = 40 * 60 * 1000;
  await fx.server.seed(BUCKET, 'skew/x', Buffer.from('hello'));
  t.equal((await store.head('skew/x')).size, 5);
  t.equal(fx.server.stats.requests.filter((r) => r.op === 'HeadObject' && r.status === 403).length, 1, 'one skewed request, then corrected');
});

t.test('Content-Type: explicit, or derived from the key extension', async (t) => {
  const store = fx.store();
  await store.put('ct/frame_0001.png', Readable.from([randomBytes(100)]));
  t.equal(fx.server.object(BUCKET, 'ct/frame_0001.png')?.contentType, 'image/png');
  await store.put('ct/render.log', Readable.from([Buffer.from('x')]), { contentType: 'text/plain; charset=utf-8' });
  t.equal(fx.server.object(BUCKET, 'ct/render.log')?.contentType, 'text/plain; charset=utf-8');
});

t.test('empty objects round-trip', async (t) => {
  const store = fx.store();
  t.equal((await store.put('empty/x', Readable.from([]))).crc64, '0');
  t.equal((await readAll(await store.get('empty/x'))).length, 0);
  const dest = join(fx.tmp, 'empty.bin');
  t.equal((await store.download('empty/x', dest)).size, 0);
  t.equal((await readFile(dest)).length, 0);
});

t.test('a large stream is spooled to a temp file so it can be retried', async (t) => {
  const store = fx.store({ memoryBufferLimit: 1024 * 1024 });
  const body = randomBytes(3 * 1024 * 1024 + 17);
  fx.server.faults.add({ kind: 'status', status: 503, op: 'PutObject', times: 1 });
  const chunks = [body.subarray(0, 700_000), body.subarray(700_000, 2_000_000), body.subarray(2_000_000)];
  t.equal((await store.put('spool/a.bin', Readable.from(chunks))).crc64, crc64(body), 'unknown size, spooled past the limit');
  t.equal((await store.put('spool/b.bin', Readable.from(chunks), { size: body.length })).crc64, crc64(body), 'size known up front');
  t.same(await readAll(await store.get('spool/a.bin')), body);
  t.equal(fx.server.stats.count('PutObject'), 3, 'the 503 was retried from the spooled copy');
});
