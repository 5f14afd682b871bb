/**
 * A real crash: a child process uploading a multipart object is SIGKILLed after three parts; a
 * new process (here: this one, a fresh OssStore) resumes the same upload id from the checkpoint
 * file without re-sending the finished parts.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RequestRecord } from '../../fakes/oss/server.js';
import { crc64 } from '../../storage/crc64.js';
import { spawnTs } from '../helpers/spawn-ts.js';
import { BUCKET, KEY_ID, SECRET, readAll, startOss } from './oss-fixture.js';

const fx = await startOss();
t.teardown(() => fx.close());

t.test('a SIGKILLed multipart upload resumes in a new process', async (t) => {
  const body = randomBytes(100 * 1024 * 7 + 5); // 8 parts
  const file = join(fx.tmp, 'crash.bin');
  await writeFile(file, body);
  const cpDir = join(fx.tmp, 'checkpoints');
  // Part 4 hangs, so the child is surely mid-upload when we kill it.
  fx.server.faults.add({ kind: 'slow', op: 'UploadPart', partNumber: 4, delayMs: 60_000, times: 1 });
  const part4 = new Promise<void>((resolve) => {
    const onRequest = (r: RequestRecord) => {
      if (r.op === 'UploadPart' && r.partNumber === 4) {
        fx.server.events.off('request', onRequest);
        resolve();
      }
    };
    fx.server.events.on('request', onRequest);
  });
  const child = spawnTs('test/storage/upload-child.ts', [fx.server.url, KEY_ID, SECRET, BUCKET, 'crash/obj.bin', file, cpDir]);
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await Promise.race([
    part4,
    once(child, 'exit').then(() => {
      throw new Error(`the child exited before part 4: ${stderr}`);
    }),
  ]);
  child.kill('SIGKILL');
  await once(child, 'exit');
  t.same(
    fx.server.stats.requests.filter((r) => r.op === 'UploadPart' && r.status === 200).map((r) => r.partNumber),
    [1, 2, 3],
    'three parts were done when the agent died',
  );
  const cps = await readdir(cpDir);
  t.equal(cps.length, 1, 'its checkpoint file is on disk');

  const meta = await fx.store({ checkpointDir: cpDir, multipartThreshold: 200 * 1024, partSize: 100 * 1024, parallel: 2 }).put('crash/obj.bin', file);
  t.equal(meta.crc64, crc64(body), 'completed and verified');
  t.equal(fx.server.stats.count('InitiateMultipartUpload'), 1, 'the same upload id was resumed');
  const ok = fx.server.stats.requests.filter((r) => r.op === 'UploadPart' && r.status === 200).map((r) => r.partNumber!);
  t.same([...ok].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8], 'each part stored once; 1-3 not sent again');
  t.same(await readAll(await fx.store().get('crash/obj.bin')), body);
  t.same(await readdir(cpDir), [], 'checkpoint removed');
});
