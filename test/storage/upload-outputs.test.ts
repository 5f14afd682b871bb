import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc64 } from '../../storage/crc64.js';
import { OutputUploadError } from '../../storage/errors.js';
import { uploadOutputs } from '../../storage/upload-outputs.js';
import { BUCKET, startOss } from './oss-fixture.js';

const fx = await startOss();
t.teardown(() => fx.close());
t.beforeEach(() => {
  fx.server.faults.clear();
  fx.server.stats.reset();
});

async function makeOutdir(name: string): Promise<{ dir: string; files: Map<string, Buffer> }> {
  const dir = join(fx.tmp, name);
  const files = new Map<string, Buffer>([
    ['frame_0001.png', randomBytes(10_000)],
    ['frame_0002.png', randomBytes(20_000)],
    ['logs/render.log', Buffer.from('Fra:1 Mem:12M\n')],
    ['deep/a/b/c.exr', randomBytes(700 * 1024)], // above the multipart threshold used below
    ['empty.txt', Buffer.alloc(0)],
  ]);
  for (const [rel, body] of files) {
    await mkdir(join(dir, rel, '..'), { recursive: true });
    await writeFile(join(dir, rel), body);
  }
  return { dir, files };
}

t.test('uploads a directory tree with bounded concurrency and returns a verified manifest', async (t) => {
  const { dir, files } = await makeOutdir('out1');
  const resolver = fx.resolver({ multipartThreshold: 300 * 1024, partSize: 100 * 1024, parallel: 1 });
  const m = await uploadOutputs(dir, `oss://${BUCKET}/jobs/42/task-1/`, { resolver, concurrency: 3 });
  t.same(m.files.map((f) => f.path), [...files.keys()].sort());
  for (const f of m.files) {
    const body = files.get(f.path)!;
    t.equal(f.crc64, crc64(body), `${f.path}: manifest CRC is the local CRC`);
    t.equal(f.size, body.length);
    t.equal(f.url, `oss://${BUCKET}/jobs/42/task-1/${f.path}`);
    t.equal(fx.server.object(BUCKET, `jobs/42/task-1/${f.path}`)?.crc64, crc64(body), `${f.path}: stored object matches`);
  }
  t.equal(m.totalBytes, [...files.values()].reduce((n, b) => n + b.length, 0));
  t.ok(fx.server.stats.maxInFlight <= 3, `concurrency bounded (max in flight ${fx.server.stats.maxInFlight})`);
  t.equal(fx.server.stats.count('InitiateMultipartUpload'), 1, 'the big file went up in parts');
});

t.test('transient faults are retried and the manifest is still exact', async (t) => {
  const { dir, files } = await makeOutdir('out2');
  fx.server.faults.add({ kind: 'status', status: 503, op: 'PutObject', times: 3 });
  fx.server.faults.add({ kind: 'reset', op: 'UploadPart', times: 1, afterBytes: 1000 });
  fx.server.faults.add({ kind: 'corrupt', op: 'UploadPart', times: 1 });
  const resolver = fx.resolver({ multipartThreshold: 300 * 1024, partSize: 100 * 1024 });
  const m = await uploadOutputs(dir, `oss://${BUCKET}/jobs/43/`, { resolver });
  for (const f of m.files) t.equal(fx.server.object(BUCKET, `jobs/43/${f.path}`)?.crc64, crc64(files.get(f.path)!));
});

t.test('any failure rejects with an error naming the file: the caller must not commit', async (t) => {
  const { dir } = await makeOutdir('out3');
  fx.server.faults.add({ kind: 'status', status: 503, op: 'PutObject', key: 'frame_0002', times: Infinity });
  const resolver = fx.resolver({ retry: { maximumAttempts: 2, initialIntervalMs: 1, maximumIntervalMs: 2 } });
  const err = await uploadOutputs(dir, `oss://${BUCKET}/jobs/44/`, { resolver }).catch((e: unknown) => e);
  t.ok(err instanceof OutputUploadError);
  t.match((err as Error).message, /uploading outputs to oss:\/\/qfarm-test\/jobs\/44\/ failed .*frame_0002\.png/);
});

t.test('a file:// destination works the same way', async (t) => {
  const { dir, files } = await makeOutdir('out4');
  const dest = join(fx.tmp, 'file-dest');
  const m = await uploadOutputs(dir, `file://${dest}/`, { resolver: fx.resolver() });
  t.equal(m.files.length, files.size);
  for (const f of m.files) {
    t.same(await readFile(join(dest, f.path)), files.get(f.path));
    t.equal(f.crc64, crc64(files.get(f.path)!));
  }
});

t.test('a missing output directory is an error, not an empty success', async (t) => {
  await t.rejects(uploadOutputs(join(fx.tmp, 'nope'), `oss://${BUCKET}/x/`, { resolver: fx.resolver() }), /nope does not exist/);
});

t.test('the manifest validates against the protocol schema the master will check', async (t) => {
  const { jobDataValidators } = await import('../../protocol/job-data.js');
  const { dir } = await makeOutdir('out5');
  const m = await uploadOutputs(dir, `oss://${BUCKET}/jobs/45/`, { resolver: fx.resolver() });
  t.same(jobDataValidators.outputManifest.problems(JSON.parse(JSON.stringify(m))), []);
  t.notOk(jobDataValidators.outputManifest.check({ ...m, totalBytes: -1 }));
});

t.test('a symlink in $OUTDIR, inside or outside it, fails the upload with a reason naming it; nothing behind it is uploaded', async (t) => {
  const { mkdtemp, rm, readdir } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { StoreResolver } = await import('../../storage/open-store.js');
  const base = await mkdtemp(join(tmpdir(), 'qfarm-symlink-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const outdir = join(base, 'out');
  const bucket = join(base, 'bucket');
  await mkdir(outdir);
  await mkdir(bucket);
  await writeFile(join(base, 'secret'), 'not yours');
  await writeFile(join(outdir, 'frame.png'), 'pixels');
  const resolver = new StoreResolver();
  const ok = await uploadOutputs(outdir, `file://${bucket}/ok/`, { resolver });
  t.same(ok.files.map((f) => f.path), ['frame.png'], 'regular files go up');
  await symlink(join(outdir, 'frame.png'), join(outdir, 'inner-link'));
  await t.rejects(uploadOutputs(outdir, `file://${bucket}/inner/`, { resolver }), /inner-link: is a symbolic link/);
  await rm(join(outdir, 'inner-link'));
  await symlink(join(base, 'secret'), join(outdir, 'stolen'));
  await t.rejects(uploadOutputs(outdir, `file://${bucket}/bad/`, { resolver }), /stolen: is a symbolic link/);
  const uploaded = await readdir(join(bucket, 'bad')).catch(() => []);
  t.notOk(uploaded.includes('stolen'), 'the secret never reached the bucket');
  await rm(join(outdir, 'stolen'));
  await symlink(base, join(outdir, 'dir-link'));
  await t.rejects(uploadOutputs(outdir, `oss://${BUCKET}/dirlink/`, { resolver: fx.resolver() }), /dir-link: is a symbolic link/, 'a linked directory is not walked either');
});

t.test('a fifo fails the upload without blocking; a file removed or rewritten mid-upload fails the attempt as retryable', async (t) => {
  const { mkdtemp, rm, unlink, appendFile } = await import('node:fs/promises');
  const { execFileSync } = await import('node:child_process');
  const { tmpdir } = await import('node:os');
  const base = await mkdtemp(join(tmpdir(), 'qfarm-special-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  execFileSync('mkfifo', [join(base, 'pipe')]);
  await t.rejects(uploadOutputs(base, `oss://${BUCKET}/fifo/`, { resolver: fx.resolver() }), /pipe: is a named pipe; only regular files and directories are uploaded/);
  await unlink(join(base, 'pipe'));
  await writeFile(join(base, 'big.bin'), randomBytes(2 * 1024 * 1024));
  fx.server.faults.add({ kind: 'slow', op: 'PutObject', key: /vanish\/big/, delayMs: 700, times: 1 });
  const vanishing = uploadOutputs(base, `oss://${BUCKET}/vanish/`, { resolver: fx.resolver() });
  setTimeout(() => void unlink(join(base, 'big.bin')), 300);
  const err = (await vanishing.catch((e: unknown) => e)) as OutputUploadError;
  t.ok(err instanceof OutputUploadError);
  t.match(err.message, /big\.bin was removed during the upload/);
  t.equal((err.failures[0]!.error as { retryable?: boolean }).retryable, true, 'retryable: the task may run again');
  await writeFile(join(base, 'grow.bin'), randomBytes(2 * 1024 * 1024));
  fx.server.faults.add({ kind: 'slow', op: 'PutObject', key: /grow\/grow/, delayMs: 700, times: 1 });
  const growing = uploadOutputs(base, `oss://${BUCKET}/grow/`, { resolver: fx.resolver() });
  setTimeout(() => void appendFile(join(base, 'grow.bin'), 'more'), 300);
  t.match(((await growing.catch((e: unknown) => e)) as Error).message, /grow\.bin changed size/);
});
