import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TarWriter } from '../../storage/tar-writer.js';

// The stream the agent hands to a user's `tar -x`: checked against the real GNU tar.
async function* bytes(...chunks: string[]): AsyncGenerator<Buffer> {
  for (const c of chunks) yield Buffer.from(c);
}

t.test('GNU tar extracts what TarWriter writes: long and non-ASCII paths, modes, empty files', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'qfarm-tar-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const tar = spawn('tar', ['-x', '-f', '-', '-C', dir, '--no-same-owner'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  tar.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => tar.once('close', resolve));
  const w = new TarWriter(tar.stdin);
  const long = `${'deep/'.repeat(30)}frame_0001.exr`;
  await w.addFile('a.txt', 6, 0o444, bytes('hel', 'lo\n'));
  await w.addFile(long, 3, 0o644, bytes('exr'));
  await w.addFile('ünïcode/名前.txt', 2, 0o644, bytes('ok'));
  await w.addFile('empty', 0, 0o644, bytes());
  await w.finish();
  t.equal(await exited, 0, stderr);
  t.equal(await readFile(join(dir, 'a.txt'), 'utf8'), 'hello\n');
  t.equal((await stat(join(dir, 'a.txt'))).mode & 0o777, 0o444);
  t.equal(await readFile(join(dir, long), 'utf8'), 'exr', 'a path beyond 100 bytes goes through a pax header');
  t.equal(await readFile(join(dir, 'ünïcode/名前.txt'), 'utf8'), 'ok');
  t.equal((await stat(join(dir, 'empty'))).size, 0);
});

t.test('a source that is not the size announced, or a path that escapes, is refused', async (t) => {
  const sink = new (await import('node:stream')).PassThrough();
  sink.resume();
  const w = new TarWriter(sink);
  await t.rejects(w.addFile('x', 5, 0o644, bytes('abc')), /x shrank to 3 of its 5 bytes/);
  await t.rejects(new TarWriter(sink).addFile('y', 2, 0o644, bytes('abc')), /y grew beyond its 2 bytes/);
  await t.rejects(new TarWriter(sink).addFile('../etc/passwd', 1, 0o644, bytes('a')), /must be relative and without "\.\."/);
  await t.rejects(new TarWriter(sink).addFile('/etc/passwd', 1, 0o644, bytes('a')), /must be relative/);
});
