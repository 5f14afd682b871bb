import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { downloadTree } from '../../storage/download-tree.js';
import { BUCKET, startOss } from './oss-fixture.js';

const fx = await startOss();
t.teardown(() => fx.close());

t.test('downloads a job output prefix in parallel, verified', async (t) => {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 40; i++) {
    const key = `renders/job-9/task-${i % 4}/frame_${String(i).padStart(4, '0')}.png`;
    files.set(key, randomBytes(1000 + i));
    await fx.server.seed(BUCKET, key, files.get(key)!);
  }
  await fx.server.seed(BUCKET, 'renders/job-90/other.png', Buffer.from('not mine'));
  fx.server.stats.reset();
  fx.server.faults.add({ kind: 'reset', op: 'GetObject', afterBytes: 300, times: 3 });
  const dest = join(fx.tmp, 'get-out');
  const seen: string[] = [];
  const r = await downloadTree(`oss://${BUCKET}/renders/job-9`, dest, { resolver: fx.resolver(), concurrency: 8, onFile: (p) => seen.push(p) });
  t.equal(r.files, 40);
  t.equal(seen.length, 40);
  for (const [key, body] of files) t.same(await readFile(join(dest, key.slice('renders/job-9/'.length))), body);
  t.ok(fx.server.stats.maxInFlight > 1 && fx.server.stats.maxInFlight <= 9, `parallel and bounded (${fx.server.stats.maxInFlight})`);
});

t.test('a key that would escape the destination is refused', async (t) => {
  await fx.server.seed(BUCKET, 'evil/../../escape.txt', Buffer.from('x'));
  await t.rejects(downloadTree(`oss://${BUCKET}/evil/`, join(fx.tmp, 'evil-out'), { resolver: fx.resolver() }), /refusing to download/);
});

t.test('symlinks planted in the destination are never followed', async (t) => {
  const { mkdir, readdir, readFile, symlink, writeFile, lstat } = await import('node:fs/promises');
  await fx.server.seed(BUCKET, 'planted/sub/a.txt', Buffer.from('from the bucket'));
  await fx.server.seed(BUCKET, 'planted/b.txt', Buffer.from('fresh'));
  const elsewhere = join(fx.tmp, 'elsewhere');
  await mkdir(elsewhere);
  await writeFile(join(elsewhere, 'b-target.txt'), 'precious');
  const dest = join(fx.tmp, 'planted-out');
  await mkdir(dest);
  await symlink(elsewhere, join(dest, 'sub'));
  await t.rejects(downloadTree(`oss://${BUCKET}/planted/`, dest, { resolver: fx.resolver(), concurrency: 1 }), /planted-out\/sub is a symbolic link or not a directory/);
  t.same((await readdir(elsewhere)).sort(), ['b-target.txt'], 'nothing was written through the directory link');
  // A link in place of a file is replaced by the file, not written through.
  const { rm } = await import('node:fs/promises');
  await rm(join(dest, 'sub'));
  await rm(join(dest, 'b.txt'), { force: true });
  await symlink(join(elsewhere, 'b-target.txt'), join(dest, 'b.txt'));
  await downloadTree(`oss://${BUCKET}/planted/`, dest, { resolver: fx.resolver() });
  t.equal(await readFile(join(elsewhere, 'b-target.txt'), 'utf8'), 'precious');
  t.ok((await lstat(join(dest, 'b.txt'))).isFile());
  t.equal(await readFile(join(dest, 'sub', 'a.txt'), 'utf8'), 'from the bucket');
});
