import t from 'tap';
import OSS from 'ali-oss';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseFaultSpec } from '../../fakes/oss/faults.js';
import { FakeOssServer } from '../../fakes/oss/server.js';
import { v1StringToSign, verifySignature } from '../../fakes/oss/signature.js';
import { crc64 } from '../../storage/crc64.js';
import { spawnTs } from '../helpers/spawn-ts.js';

const ID = 'LTAIfakeServerTest';
const SECRET = 'fake+server/secret=';
const server = await FakeOssServer.start({ keys: [{ accessKeyId: ID, accessKeySecret: SECRET }], buckets: ['fake-bucket'] });
const tmp = await mkdtemp(join(tmpdir(), 'qfarm-fake-oss-test-'));
t.teardown(async () => {
  await server.close();
  await rm(tmp, { recursive: true, force: true });
});
t.beforeEach(() => {
  server.faults.clear();
  server.stats.reset();
  server.clockSkewMs = 0;
});

const client = (opts: Partial<OSS.Options> = {}) =>
  new OSS({ endpoint: server.url, accessKeyId: ID, accessKeySecret: SECRET, bucket: 'fake-bucket', ...opts });

t.test('V1 signature: the documented OSS example verifies', async (t) => {
  const req = {
    method: 'PUT',
    bucket: 'oss-example',
    key: 'nelson',
    query: [] as [string, string][],
    headers: {
      'content-md5': 'ODBGOERFMDMzQTczRUY3NUE3NzA5QzdFNUYzMDQxNEM=',
      'content-type': 'text/html',
      date: 'Thu, 17 Nov 2005 18:49:58 GMT',
      'x-oss-magic': 'abracadabra',
      'x-oss-meta-author': 'foo@bar.com',
      authorization: 'OSS 44CF9590006BF252F707:26NBxoKdsyly4EDv6inkoDft/yA=',
    },
  };
  t.equal(
    v1StringToSign(req),
    'PUT\nODBGOERFMDMzQTczRUY3NUE3NzA5QzdFNUYzMDQxNEM=\ntext/html\nThu, 17 Nov 2005 18:49:58 GMT\nx-oss-magic:abracadabra\nx-oss-meta-author:foo@bar.com\n/oss-example/nelson',
  );
  const keys = new Map([['44CF9590006BF252F707', { accessKeyId: '44CF9590006BF252F707', accessKeySecret: 'OtxrzxIsfpFjA7SwPzILwy8Bw21TLhquhboDYROV' }]]);
  const now = Date.parse('Thu, 17 Nov 2005 18:49:58 GMT');
  t.same(verifySignature(req, keys, now), { ok: true, accessKeyId: '44CF9590006BF252F707', requestTime: now });
  t.match(verifySignature({ ...req, key: 'nelson2' }, keys, now), { ok: false, code: 'SignatureDoesNotMatch' });
  t.match(verifySignature(req, keys, now + 16 * 60_000), { ok: false, code: 'RequestTimeTooSkewed' });
});

for (const mode of ['ip endpoint, V1', 'ip endpoint, V4', 'path-style, V1', 'path-style, V4'] as const) {
  t.test(`ali-oss works against the fake: ${mode}`, async (t) => {
    const c = client({
      authorizationV4: mode.endsWith('V4'),
      ...(mode.startsWith('path') ? { endpoint: `http://localhost:${server.port}`, sldEnable: true } : {}),
    });
    const name = `modes/${mode}/ü +%.bin`;
    const body = randomBytes(1234);
    const put = await c.put(name, body);
    t.equal(put.res.headers['x-oss-hash-crc64ecma'], crc64(body), 'CRC-64 header on PUT');
    t.equal(put.res.headers.etag, `"${createHash('md5').update(body).digest('hex').toUpperCase()}"`, 'ETag is the upper-case MD5');
    t.same((await c.get(name)).content, body);
    const ranged = await c.get(name, undefined, { headers: { Range: 'bytes=10-19' } });
    t.equal(ranged.res.status, 206);
    t.same(ranged.content, body.subarray(10, 20), 'Range');
    const list = await c.listV2({ prefix: `modes/${mode}/`, 'max-keys': '10' });
    t.same(list.objects.map((o) => o.name), [name]);
    await c.delete(name);
    t.ok(server.stats.requests.every((r) => r.status < 400 && r.status > 0));
  });
}

t.test('multipart through ali-oss: ListParts, CRC of the whole object from the parts', async (t) => {
  const c = client();
  const body = randomBytes(350 * 1024);
  const file = join(tmp, 'mp.bin');
  await writeFile(file, body);
  const r = await c.multipartUpload('mp/obj', file, { partSize: 100 * 1024 });
  t.equal(r.res.headers['x-oss-hash-crc64ecma'], crc64(body), 'combined CRC-64 equals the CRC of the whole');
  t.match(r.res.headers.etag, /^"[0-9A-F]{32}-4"$/, 'multipart ETag shape');
  const raw = c as unknown as { initMultipartUpload(n: string): Promise<{ uploadId: string }>; listParts(n: string, id: string): Promise<{ parts: { PartNumber: string }[] }>; uploadPart(n: string, id: string, no: number, f: string, s: number, e: number): Promise<unknown> };
  const { uploadId } = await raw.initMultipartUpload('mp/listed');
  await raw.uploadPart('mp/listed', uploadId, 2, file, 0, 100 * 1024);
  await raw.uploadPart('mp/listed', uploadId, 1, file, 0, 100 * 1024);
  const parts = await raw.listParts('mp/listed', uploadId);
  t.same(parts.parts.map((p) => p.PartNumber), ['1', '2']);
  await c.abortMultipartUpload('mp/listed', uploadId);
  await t.rejects(raw.listParts('mp/listed', uploadId), { code: 'NoSuchUpload', status: 404 });
});

t.test('errors come back in OSS XML shape', async (t) => {
  const res = await fetch(`http://127.0.0.1:${server.port}/fake-bucket/nothing-here`);
  t.equal(res.status, 403);
  const xml = await res.text();
  t.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>AccessDenied<\/Code><Message>[^<]+<\/Message><RequestId>[0-9A-F]{24}<\/RequestId><HostId>fake-bucket\.oss-cn-hangzhou\.aliyuncs\.com<\/HostId><\/Error>/);
  t.equal(res.headers.get('x-oss-request-id')?.length, 24);

  const c = client();
  await t.rejects(c.get('missing'), { name: 'NoSuchKeyError', code: 'NoSuchKey', status: 404 });
  await t.rejects(c.head('missing'), { code: 'NoSuchKey', status: 404 });
  await t.rejects(client({ bucket: 'no-such-bucket' }).get('x'), { code: 'NoSuchBucket', status: 404 });
  const wrong = client({ accessKeySecret: 'wrong' });
  const err = (await wrong.get('x').catch((e: unknown) => e)) as { code: string; status: number };
  t.equal(err.code, 'SignatureDoesNotMatch');
  t.equal(err.status, 403);
  await t.rejects(wrong.head('x'), { code: 'SignatureDoesNotMatch' }, 'HEAD errors travel in x-oss-err');
  await t.rejects(client({ accessKeyId: 'LTAIother' }).get('x'), { code: 'InvalidAccessKeyId' });
  server.clockSkewMs = 20 * 60_000;
  await t.rejects(c.get('x'), { code: 'RequestTimeTooSkewed', status: 403 });
});

t.test('Content-MD5 is checked', async (t) => {
  const c = client();
  await t.rejects(c.put('md5/x', Buffer.from('payload'), { headers: { 'Content-MD5': createHash('md5').update('other').digest('base64') } }), {
    code: 'InvalidDigest',
    status: 400,
  });
  t.equal(server.object('fake-bucket', 'md5/x'), undefined, 'nothing stored');
});

t.test('ListObjectsV2: prefix, delimiter, max-keys, continuation', async (t) => {
  for (const k of ['d/a/1', 'd/a/2', 'd/b/1', 'd/c', 'd/d', 'e/x']) await server.seed('fake-bucket', k, Buffer.from(k));
  const c = client();
  const seen: string[] = [];
  let token: string | null = null;
  let pages = 0;
  do {
    const q: Record<string, string> = { prefix: 'd/', delimiter: '/', 'max-keys': '2' };
    if (token) q['continuation-token'] = token;
    const page = await c.listV2(q);
    seen.push(...page.objects.map((o) => o.name), ...(page.prefixes ?? []));
    token = page.nextContinuationToken;
    pages++;
  } while (token);
  t.same(seen.sort(), ['d/a/', 'd/b/', 'd/c', 'd/d']);
  t.equal(pages, 2);
  await t.rejects(c.listV2({ 'max-keys': '1001' }), { code: 'InvalidArgument' });
});

t.test('fault injection: programmatic, by spec text, and over the admin API', async (t) => {
  t.same(parseFaultSpec('kind=status,status=503,code=SlowDown,op=PutObject,key=^out/,times=2'), {
    kind: 'status',
    op: 'PutObject',
    key: '^out/',
    times: 2,
    status: 503,
    code: 'SlowDown',
  });
  t.throws(() => parseFaultSpec('kind=explode'), /kind must be one of/);
  const c = client();
  server.faults.add(parseFaultSpec('kind=status,status=503,code=SlowDown,op=PutObject,times=2'));
  await t.rejects(c.put('f/x', Buffer.from('1')), { code: 'SlowDown', status: 503 });
  await t.rejects(c.put('f/x', Buffer.from('1')), { code: 'SlowDown' });
  await c.put('f/x', Buffer.from('1'));
  const admin = `http://127.0.0.1:${server.port}/_fake`;
  await fetch(`${admin}/faults`, { method: 'POST', body: JSON.stringify({ kind: 'status', status: 500, code: 'InternalError', op: 'GetObject' }) });
  await t.rejects(c.get('f/x'), { code: 'InternalError', status: 500 });
  t.same((await c.get('f/x')).content, Buffer.from('1'));
  const stats = (await (await fetch(`${admin}/stats`)).json()) as { requests: { op: string; status: number }[] };
  t.same(stats.requests.map((r) => `${r.op}:${r.status}`), ['PutObject:503', 'PutObject:503', 'PutObject:200', 'GetObject:500', 'GetObject:200']);
  // Corrupt bodies keep the true CRC header, so a client that checks can tell.
  server.faults.add({ kind: 'corrupt', op: 'GetObject' });
  const bad = await c.get('f/x');
  t.not(bad.content.toString(), '1');
  t.equal(bad.res.headers['x-oss-hash-crc64ecma'], crc64(Buffer.from('1')));
});

t.test('standalone: node fakes/oss/main --port 0 prints its URL and serves', async (t) => {
  const dir = join(tmp, 'standalone');
  const child = spawnTs('fakes/oss/main.ts', ['--port', '0', '--dir', dir, '--key', 'idA:secretA', '--bucket', 'standalone-b', '--fault', 'kind=status,status=503,op=HeadObject']);
  t.teardown(() => {
    child.kill('SIGTERM');
  });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(() => {
      throw new Error('fake exited early');
    }),
  ])) as [string];
  const m = /^QFARM_FAKE_OSS_URL=(http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
  t.ok(m, `printed ${line}`);
  const c = new OSS({ endpoint: m![1]!, accessKeyId: 'idA', accessKeySecret: 'secretA', bucket: 'standalone-b' });
  await c.put('k', Buffer.from('standalone'));
  await t.rejects(c.head('k'), { code: 'ServiceUnavailable', status: 503 }, 'the --fault flag took effect');
  t.equal((await c.head('k')).status, 200);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  t.equal(code, 0, 'clean exit on SIGTERM');
  // Objects persist in --dir across restarts.
  const again = spawnTs('fakes/oss/main.ts', ['--dir', dir, '--key', 'idA:secretA', '--bucket', 'standalone-b']);
  t.teardown(() => {
    again.kill('SIGTERM');
  });
  const [line2] = (await once(createInterface({ input: again.stdout! }), 'line')) as [string];
  const c2 = new OSS({ endpoint: line2.split('=')[1]!, accessKeyId: 'idA', accessKeySecret: 'secretA', bucket: 'standalone-b' });
  t.equal((await c2.get('k')).content.toString(), 'standalone');
});

t.test('malformed requests get an answer, and the fake keeps running', async (t) => {
  const base = `http://127.0.0.1:${server.port}`;
  t.equal((await fetch(`${base}/_fake/faults`, { method: 'POST', body: '{not json' })).status, 400);
  t.equal((await fetch(`${base}/%E0%A4%A/key`)).status, 400, 'a bad percent-encoding in the bucket');
  t.equal((await fetch(`${base}/_fake/stats`)).status, 200, 'still serving');
});
