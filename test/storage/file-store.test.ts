import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { crc64 } from '../../storage/crc64.js';
import { ObjectNotFoundError } from '../../storage/errors.js';
import { FileStore } from '../../storage/file-store.js';
import { formatStorageUrl, parseStorageUrl } from '../../storage/object-store.js';
import { StoreResolver } from '../../storage/open-store.js';

const root = await mkdtemp(join(tmpdir(), 'qfarm-file-store-'));
t.teardown(() => rm(root, { recursive: true, force: true }));
const key = (rel: string) => join(root, rel).slice(1);

t.test('URL parsing', async (t) => {
  t.same(parseStorageUrl('file:///data/in/scene1/'), { scheme: 'file', bucket: '/', prefix: 'data/in/scene1/' });
  t.same(parseStorageUrl('file:///a%20b/c'), { scheme: 'file', bucket: '/', prefix: 'a b/c' });
  t.same(parseStorageUrl('oss://my-bucket/renders/job-1/'), { scheme: 'oss', bucket: 'my-bucket', prefix: 'renders/job-1/' });
  t.same(parseStorageUrl('oss://my-bucket'), { scheme: 'oss', bucket: 'my-bucket', prefix: '' });
  t.throws(() => parseStorageUrl('file://relative/x'), { name: 'InvalidStorageUrlError' });
  t.throws(() => parseStorageUrl('file:///a/../etc'), { name: 'InvalidStorageUrlError' });
  t.throws(() => parseStorageUrl('oss://Bad_Bucket/x'), { name: 'InvalidStorageUrlError', message: /not a valid OSS bucket name/ });
  t.throws(() => parseStorageUrl('s3://b/x'), { name: 'InvalidStorageUrlError', message: /unknown scheme/ });
  t.equal(formatStorageUrl('file', '/', 'tmp/100%/x'), 'file:///tmp/100%25/x');
  t.same(parseStorageUrl(formatStorageUrl('file', '/', 'tmp/100%/x')).prefix, 'tmp/100%/x', 'round trip');
  const { store } = new StoreResolver({}, {}).forUrl('file:///x');
  t.ok(store instanceof FileStore);
});

t.test('put/get/head/list/download/delete', async (t) => {
  const store = new FileStore();
  const body = randomBytes(70_000);
  const meta = await store.put(key('bucket/dir/a.bin'), Readable.from([body]));
  t.equal(meta.crc64, crc64(body), 'CRC computed while writing');
  t.equal(meta.size, body.length);
  t.same(await readFile(join(root, 'bucket/dir/a.bin')), body);
  const head = await store.head(key('bucket/dir/a.bin'));
  t.equal(head.crc64, crc64(body), 'memoised CRC returned by head');
  t.equal(head.etag, meta.etag);
  await writeFile(join(root, 'src.txt'), 'from a path');
  await store.put(key('bucket/dir/sub/b.txt'), join(root, 'src.txt'));
  await store.put(key('bucket/dirx/c.txt'), Readable.from([Buffer.from('c')]));
  const listed: string[] = [];
  for await (const m of store.list(key('bucket/dir/'))) listed.push(m.key);
  t.same(listed, [key('bucket/dir/a.bin'), key('bucket/dir/sub/b.txt')], 'recursive, sorted, prefix respected');
  const partial: string[] = [];
  for await (const m of store.list(key('bucket/di'))) partial.push(m.key);
  t.equal(partial.length, 3, 'a prefix that is not a directory boundary matches like OSS');
  t.equal((await store.checksum(key('bucket/dir/sub/b.txt'))).crc64, crc64(Buffer.from('from a path')));
  const dl = join(root, 'dl', 'a.bin');
  t.equal((await store.download(key('bucket/dir/a.bin'), dl)).crc64, crc64(body));
  t.same(await readFile(dl), body);
  await store.delete(key('bucket/dir/a.bin'));
  await store.delete(key('bucket/dir/a.bin')); // deleting twice is fine, as in OSS
  await t.rejects(store.head(key('bucket/dir/a.bin')), ObjectNotFoundError);
  await t.rejects(store.get(key('bucket/dir/a.bin')), ObjectNotFoundError);
});

t.test('writes are atomic: a failed stream leaves neither a partial file nor a temp file', async (t) => {
  const store = new FileStore();
  const failing = new Readable({
    read() {
      this.push(Buffer.alloc(1000, 1));
      this.destroy(new Error('source broke'));
    },
  });
  await t.rejects(store.put(key('atomic/x.bin'), failing), /source broke/);
  t.same(await readdir(join(root, 'atomic')), [], 'nothing left behind');
  // An existing object is not replaced by a failed write.
  await store.put(key('atomic/y.bin'), Readable.from([Buffer.from('good')]));
  const failing2 = new Readable({
    read() {
      this.destroy(new Error('broke again'));
    },
  });
  await t.rejects(store.put(key('atomic/y.bin'), failing2));
  t.equal(await readFile(join(root, 'atomic/y.bin'), 'utf8'), 'good');
});
