/**
 * Recorded-shape check: every request OssStore sends, recorded by the fake, has the shape OSS
 * documents for its operation (signature headers, the query parameters that select the
 * operation, Content-MD5 where a body is buffered, Range on downloads…), for V1 and V4.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BUCKET, startOss } from './oss-fixture.js';

const fx = await startOss();
t.teardown(() => fx.close());

for (const v4 of [false, true]) {
  t.test(`request shapes, signature ${v4 ? 'V4' : 'V1'}`, async (t) => {
    fx.server.stats.reset();
    const store = fx.store({ authorizationV4: v4, multipartThreshold: 300 * 1024, partSize: 100 * 1024, downloadPartSize: 128 * 1024 });
    const big = join(fx.tmp, `shape-big-${v4}.bin`);
    await writeFile(big, randomBytes(350 * 1024));
    const streamed = join(fx.tmp, `shape-streamed-${v4}.bin`);
    await store.put('shape/small.txt', Readable.from([Buffer.from('hello')]));
    await store.put('shape/big.bin', big);
    await writeFile(streamed, randomBytes(5 * 1024 * 1024));
    await fx.store({ authorizationV4: v4 }).put('shape/streamed.bin', streamed); // > 4 MiB, < multipart threshold: streamed
    for await (const _ of store.list('shape/', { pageSize: 2 })) {
      /* drain */
    }
    await store.head('shape/small.txt');
    await store.download('shape/big.bin', join(fx.tmp, `shape-dl-${v4}.bin`));
    await store.delete('shape/small.txt');

    const reqs = fx.server.stats.requests;
    t.ok(reqs.length > 10);
    for (const r of reqs) {
      t.ok(r.status > 0 && r.status < 300, `${r.op} succeeded`);
      t.ok(r.headers.includes('authorization') && r.headers.includes('x-oss-date') && r.headers.includes('host'), `${r.op}: signed, dated`);
      if (v4) t.ok(r.headers.includes('x-oss-content-sha256'), `${r.op}: V4 payload header`);
    }
    const byOp = (op: string) => reqs.filter((r) => r.op === op);
    const small = byOp('PutObject').find((r) => r.key === 'shape/small.txt')!;
    t.ok(small.headers.includes('content-md5'), 'a buffered PutObject carries Content-MD5');
    const stream = byOp('PutObject').find((r) => r.key === 'shape/streamed.bin')!;
    t.ok(stream.headers.includes('content-length') && !stream.headers.includes('transfer-encoding'), 'a streamed PutObject declares its length');
    t.same(byOp('InitiateMultipartUpload').map((r) => r.query), [['uploads']]);
    t.equal(byOp('UploadPart').length, 4);
    for (const r of byOp('UploadPart')) {
      t.same([...r.query].sort(), ['partNumber', 'uploadId'], 'UploadPart is selected by partNumber + uploadId');
      t.notOk(r.headers.includes('content-md5'), 'parts carry no Content-MD5 (ali-oss)');
    }
    t.same(byOp('CompleteMultipartUpload').map((r) => r.query), [['uploadId']]);
    const lists = byOp('ListObjectsV2');
    t.ok(lists.length >= 2, 'paged');
    t.ok(lists.every((r) => r.query.includes('list-type') && r.query.includes('max-keys') && r.query.includes('prefix')));
    t.ok(lists.slice(1).every((r) => r.query.includes('continuation-token')), 'later pages carry the token');
    t.ok(byOp('GetObject').every((r) => r.range !== undefined), 'downloads are ranged');
    t.equal(byOp('GetObject').length, 3, '350 KiB in 128 KiB ranges');
    t.equal(byOp('DeleteObject').length, 1);
    t.equal(reqs.filter((r) => r.key.startsWith('shape/') || r.op === 'ListObjectsV2').length, reqs.length, `only ${BUCKET} keys we asked for`);
  });
}
