import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StageCache, StageCacheLockedError } from '../../storage/stage-cache.js';
import { BUCKET, startOss } from './oss-fixture.js';
import { requireRoot } from '../helpers/unix-users.js';

const fx = await startOss();
t.teardown(() => fx.close());
t.beforeEach(() => {
  fx.server.faults.clear();
  fx.server.stats.reset();
});

let n = 0;
async function openCache(maxBytes: number) {
  const cache = await StageCache.open({ dir: join(fx.tmp, `cache-${++n}`), maxBytes, resolver: fx.resolver() });
  t.teardown(() => cache.close());
  return cache;
}
const url = (key: string) => `oss://${BUCKET}/${key}`;

t.test('two concurrent stages of one object make one GET (single-flight)', async (t) => {
  const cache = await openCache(100 * 1024 * 1024);
  const body = randomBytes(2 * 1024 * 1024);
  await fx.server.seed(BUCKET, 'sf/obj.bin', body);
  fx.server.stats.reset();
  // Slow the one GET down so the second request surely arrives while it is in flight.
  fx.server.faults.add({ kind: 'slow', op: 'GetObject', delayMs: 300, times: 1 });
  const [a, b] = await Promise.all([
    cache.stageObject(url('sf/obj.bin'), join(fx.tmp, 'sf-a', 'obj.bin')),
    cache.stageObject(url('sf/obj.bin'), join(fx.tmp, 'sf-b', 'obj.bin')),
  ]);
  t.equal(fx.server.stats.count('GetObject'), 1, 'the server saw one GET');
  t.same([a.hit, b.hit].sort(), [false, true], 'one fetched, one waited');
  t.same(await readFile(join(fx.tmp, 'sf-a', 'obj.bin')), body);
  t.same(await readFile(join(fx.tmp, 'sf-b', 'obj.bin')), body);
  t.equal(cache.stats().misses, 1);
  // A later stage is a pure cache hit: no GET at all.
  const c = await cache.stageObject(url('sf/obj.bin'), join(fx.tmp, 'sf-c', 'obj.bin'));
  t.ok(c.hit);
  t.equal(fx.server.stats.count('GetObject'), 1);
  const st = await stat(join(fx.tmp, 'sf-c', 'obj.bin'));
  t.equal(st.mode & 0o777, 0o444, 'staged inputs are read-only (hard links to the cache)');
  t.ok(st.nlink >= 2, 'a hard link, not a copy');
});

t.test('a changed object (new ETag) is a new entry, never a stale hit', async (t) => {
  const cache = await openCache(10 * 1024 * 1024);
  await fx.server.seed(BUCKET, 'chg/x', Buffer.from('version one'));
  await cache.stageObject(url('chg/x'), join(fx.tmp, 'chg1'));
  await fx.server.seed(BUCKET, 'chg/x', Buffer.from('version two!'));
  const lease = await cache.stageObject(url('chg/x'), join(fx.tmp, 'chg2'));
  t.notOk(lease.hit);
  t.equal(await readFile(join(fx.tmp, 'chg2'), 'utf8'), 'version two!');
});

t.test('LRU eviction under a size bound', async (t) => {
  const cache = await openCache(250_000);
  for (const k of ['a', 'b', 'c', 'd']) await fx.server.seed(BUCKET, `lru/${k}`, randomBytes(100_000));
  fx.server.stats.reset();
  const stage = (k: string) => cache.stageObject(url(`lru/${k}`), join(fx.tmp, 'lru-out', k));
  await stage('a');
  await stage('b');
  t.ok((await stage('a')).hit, 'a is cached; now b is the least recently used');
  await stage('c'); // 300 kB > 250 kB: b goes
  t.equal(cache.stats().evictions, 1);
  t.equal(cache.stats().bytes, 200_000);
  t.ok((await stage('a')).hit, 'a survived');
  t.ok((await stage('c')).hit, 'c survived');
  t.notOk((await stage('b')).hit, 'b was evicted and is fetched again');
  t.equal(fx.server.stats.count('GetObject', { key: /^lru\/b$/ }), 2);
  t.ok(cache.stats().bytes <= 250_000);
  t.same(await readFile(join(fx.tmp, 'lru-out', 'b')), await readFile(fx.server.object(BUCKET, 'lru/b')!.file), 'evicting never touched staged copies');
});

t.test('an entry in use is never evicted; the bound is restored on release', async (t) => {
  const cache = await openCache(150_000);
  for (const k of ['p', 'q']) await fx.server.seed(BUCKET, `pin/${k}`, randomBytes(100_000));
  const leaseP = await cache.acquire(url('pin/p'));
  const leaseQ = await cache.acquire(url('pin/q')); // 200 kB > 150 kB, but both are in use
  t.equal(cache.stats().evictions, 0);
  t.equal(cache.stats().bytes, 200_000);
  t.ok((await stat(leaseP.path)).isFile(), 'the leased file is still there');
  leaseQ.release();
  leaseP.release();
  // Release schedules the eviction; wait for it without sleeping blindly.
  for (let i = 0; i < 100 && cache.stats().bytes > 150_000; i++) await new Promise((r) => setImmediate(r));
  t.equal(cache.stats().evictions, 1);
  t.equal(cache.stats().bytes, 100_000);
});

t.test('stageTree of 2,000 small files: correct, parallel, bounded', async (t) => {
  const cache = await openCache(500 * 1024 * 1024);
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 2000; i++) {
    const key = `tree/scene/tex${Math.floor(i / 100)}/t${i}.png`;
    const body = randomBytes(200 + (i % 300));
    files.set(key, body);
    await fx.server.seed(BUCKET, key, body);
  }
  await fx.server.seed(BUCKET, 'tree/scene-other/x', Buffer.from('not part of the tree'));
  fx.server.stats.reset();
  const dest = join(fx.tmp, 'tree-out');
  const r = await cache.stageTree(url('tree/scene'), dest, { concurrency: 16 });
  t.equal(r.files, 2000);
  t.equal(r.downloaded, 2000);
  t.equal(fx.server.stats.count('GetObject'), 2000, 'one GET per file, no HEADs (metadata came from the listing)');
  t.equal(fx.server.stats.count('HeadObject'), 0);
  t.equal(fx.server.stats.count('ListObjectsV2'), 2);
  t.ok(fx.server.stats.maxInFlight > 1, `requests overlapped (max in flight ${fx.server.stats.maxInFlight})`);
  t.ok(fx.server.stats.maxInFlight <= 17, `bounded by the concurrency (max in flight ${fx.server.stats.maxInFlight})`);
  let same = 0;
  for (const [key, body] of files) {
    if ((await readFile(join(dest, key.slice('tree/scene/'.length)))).equals(body)) same++;
  }
  t.equal(same, 2000, 'every file has the right bytes');
  await t.rejects(readFile(join(dest, '..', 'scene-other', 'x')), { code: 'ENOENT' }, 'a sibling prefix is not staged');
  t.comment(`staged 2,000 files in ${r.elapsedMs} ms`);

  fx.server.stats.reset();
  const again = await cache.stageTree(url('tree/scene/'), join(fx.tmp, 'tree-out-2'));
  t.equal(again.hits, 2000, 'the second task is served from the cache');
  t.equal(fx.server.stats.count('GetObject'), 0);
});

t.test('a failing object fails the whole stageTree with a named error', async (t) => {
  const cache = await openCache(10 * 1024 * 1024);
  for (let i = 0; i < 30; i++) await fx.server.seed(BUCKET, `bad/f${i}`, Buffer.from(`x${i}`));
  fx.server.faults.add({ kind: 'status', status: 503, op: 'GetObject', key: '^bad/f7$', times: Infinity });
  await t.rejects(cache.stageTree(url('bad'), join(fx.tmp, 'bad-out')), { name: 'StageError', message: /oss:\/\/qfarm-test\/bad\/f7/ });
});

t.test('file:// sources stage the same way', async (t) => {
  const cache = await openCache(10 * 1024 * 1024);
  const src = join(fx.tmp, 'local-src');
  await mkdir(join(src, 'sub'), { recursive: true });
  await writeFile(join(src, 'a.txt'), 'A');
  await writeFile(join(src, 'sub', 'b.txt'), 'B');
  const r = await cache.stageTree(`file://${src}`, join(fx.tmp, 'local-dest'));
  t.equal(r.files, 2);
  t.equal(await readFile(join(fx.tmp, 'local-dest', 'sub', 'b.txt'), 'utf8'), 'B');
});

t.test('the cache survives a restart and is locked while open', async (t) => {
  const dir = join(fx.tmp, 'cache-restart');
  const first = await StageCache.open({ dir, maxBytes: 10_000_000, resolver: fx.resolver() });
  await fx.server.seed(BUCKET, 'rs/x', Buffer.from('persisted'));
  await first.stageObject(url('rs/x'), join(fx.tmp, 'rs1'));
  // Another process holding the lock: simulate with our parent's pid (alive, not us).
  await first.close();
  await writeFile(join(dir, 'lock'), String(process.ppid));
  await t.rejects(StageCache.open({ dir, maxBytes: 10_000_000, resolver: fx.resolver() }), StageCacheLockedError);
  await writeFile(join(dir, 'lock'), '999999999'); // a dead process: stale lock is taken over
  const second = await StageCache.open({ dir, maxBytes: 10_000_000, resolver: fx.resolver() });
  t.teardown(() => second.close());
  fx.server.stats.reset();
  t.ok((await second.stageObject(url('rs/x'), join(fx.tmp, 'rs2'))).hit, 'hit after restart');
  t.equal(fx.server.stats.count('GetObject'), 0);
});

t.test('re-staging over an existing file replaces it; copy mode gives a private writable file', async (t) => {
  const cache = await openCache(10 * 1024 * 1024);
  await fx.server.seed(BUCKET, 'restage/x', Buffer.from('new content'));
  const dest = join(fx.tmp, 'restage', 'x');
  await mkdir(join(fx.tmp, 'restage'), { recursive: true });
  await writeFile(dest, 'old content');
  await cache.stageObject(url('restage/x'), dest);
  t.equal(await readFile(dest, 'utf8'), 'new content');
  await cache.stageObject(url('restage/x'), dest); // again, over the hard link itself
  t.equal(await readFile(dest, 'utf8'), 'new content');
  const priv = join(fx.tmp, 'restage', 'private');
  await cache.stageObject(url('restage/x'), priv, { copy: true });
  const st = await stat(priv);
  t.equal(st.nlink, 1, 'a copy, not a link');
  t.equal(st.mode & 0o777, 0o644);
  await writeFile(priv, 'task scribbled here');
  await cache.stageObject(url('restage/x'), join(fx.tmp, 'restage', 'y'));
  t.equal(await readFile(join(fx.tmp, 'restage', 'y'), 'utf8'), 'new content', 'the cached copy is untouched');
});

t.test('a cached file removed behind the cache is fetched again', async (t) => {
  const cache = await openCache(10 * 1024 * 1024);
  await fx.server.seed(BUCKET, 'vanish/x', Buffer.from('still here'));
  const first = await cache.stageObject(url('vanish/x'), join(fx.tmp, 'vanish1'));
  await rm(first.path, { force: true });
  fx.server.stats.reset();
  await cache.stageObject(url('vanish/x'), join(fx.tmp, 'vanish2'));
  t.equal(await readFile(join(fx.tmp, 'vanish2'), 'utf8'), 'still here');
  t.equal(fx.server.stats.count('GetObject'), 1, 'downloaded again');
});

t.test('writable (:rw) inputs: private copies owned by the task user, directories too', async (t) => {
  requireRoot();
  const cache = await openCache(10 * 1024 * 1024);
  await fx.server.seed(BUCKET, 'rw/sub/a.txt', Buffer.from('A'));
  await fx.server.seed(BUCKET, 'rw/b.txt', Buffer.from('B'));
  const dest = join(fx.tmp, 'rw-out');
  await cache.stageTree(url('rw'), dest, { copy: true, owner: { uid: 12345, gid: 23456 } });
  for (const p of ['sub/a.txt', 'b.txt', 'sub', '.']) {
    const st = await stat(join(dest, p));
    t.same([st.uid, st.gid], [12345, 23456], `${p} belongs to the task user`);
  }
  const cached = await cache.acquire(url('rw/b.txt'));
  t.equal((await stat(cached.path)).uid, 0, 'the cache entry itself is untouched');
  cached.release();
});
