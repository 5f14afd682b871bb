import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FakeOssServer } from '../../fakes/oss/server.js';
import { StoreResolver } from '../../storage/open-store.js';
import { TestFarm } from '../helpers/farm.js';
import { accountingRecords } from '../helpers/farm-records.js';

const KEY = { accessKeyId: 'LTAIqfarmtest01', accessKeySecret: 'the-real-secret-4f1c' };
const BUCKET = 'renders';

t.test('jobs read oss:// inputs and write outputs through the local OSS, verified end to end', async (t) => {
  const oss = await FakeOssServer.start({ keys: [KEY], buckets: [BUCKET] });
  t.teardown(() => oss.close());
  const ossEnv = { QFARM_OSS_ENDPOINT: oss.url, ALIBABA_CLOUD_ACCESS_KEY_ID: KEY.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: KEY.accessKeySecret };
  // The test reads the bucket through the same adapter the agents use (real ali-oss).
  const resolver = new StoreResolver({}, { ...process.env, ...ossEnv });
  const read = async (key: string): Promise<string> => {
    const { store } = resolver.forUrl(`oss://${BUCKET}/`);
    const chunks: Buffer[] = [];
    for await (const c of await store.get(key)) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  for (let i = 0; i < 50; i++) await oss.seed(BUCKET, `scenes/textures/t${String(i).padStart(3, '0')}.txt`, Buffer.from(`texture ${i}\n`));

  const farm = await TestFarm.start(t);
  for (const name of ['node1', 'node2']) await farm.startAgent(name, { slots: 2, env: ossEnv });
  const mount = path.join(farm.work, 'mnt', 'scenes');
  const script = [
    '#!/bin/sh',
    `n=$(ls ${mount}/textures | wc -l)`,
    `sum=$(cat ${mount}/textures/* | wc -l)`,
    'echo "task $SGE_TASK_ID saw $n textures, $sum lines" > "$OUTDIR/result.$SGE_TASK_ID.txt"',
    '',
  ].join('\n');

  t.test('four tasks on two agents stage the inputs and upload their $OUTDIR', async (t) => {
    const jobId = await farm.submit(['-cwd', '-N', 'stage', '-t', '1-4', '-data', `oss://${BUCKET}/scenes/:${mount}:ro`, '-outdir', `oss://${BUCKET}/out/`], { input: script });
    await farm.waitForJob(jobId, 60_000);
    const records = await accountingRecords(farm, jobId);
    t.same(records.map((r) => [r.taskid, r.exitStatus, r.failedCode]), [[1, 0, 0], [2, 0, 0], [3, 0, 0], [4, 0, 0]], 'every task succeeded');
    for (let task = 1; task <= 4; task++) t.equal(await read(`out/result.${task}.txt`), `task ${task} saw 50 textures, 50 lines\n`);
    const dest = path.join(farm.work, 'downloaded');
    const got = await farm.run('qfarm', ['get', String(jobId), dest], { env: ossEnv });
    t.equal(got.code, 0, got.stderr);
    t.match(got.stdout, /downloaded 4 file\(s\)/);
    t.equal(fs.readFileSync(path.join(dest, 'result.3.txt'), 'utf8'), 'task 3 saw 50 textures, 50 lines\n', 'qfarm get brings the outputs home');
    const gets = oss.stats.count('GetObject', { key: /^scenes\// });
    t.ok(gets <= 2 * 50, `inputs were fetched at most once per node (${gets} GETs for 50 objects on 2 nodes)`);
  });

  t.test('upload faults: retried transparently, or the attempt is rerun — never a committed task without its outputs', async (t) => {
    // Three 503s for one object: the adapter's own retries absorb them.
    oss.faults.add({ kind: 'status', status: 503, code: 'SlowDown', op: 'PutObject', key: /out2\/result\.1\./, times: 3 });
    // A body corrupted in transit for another: OSS's Content-MD5 check refuses it, the upload is
    // retried (damage MD5 cannot see is in verified-outputs.test.ts).
    oss.faults.add({ kind: 'corrupt', op: 'PutObject', key: /out2\/result\.2\./, times: 1 });
    // Far more failures than the adapter retries for a third: the attempt fails and the task runs again.
    oss.faults.add({ kind: 'status', status: 503, op: 'PutObject', key: /out2\/result\.3\./, times: 12 });
    const jobId = await farm.submit(['-cwd', '-N', 'faults', '-t', '1-3', '-data', `oss://${BUCKET}/scenes/:${mount}:ro`, '-outdir', `oss://${BUCKET}/out2/`], { input: script });
    await farm.waitForJob(jobId, 120_000);
    const records = await accountingRecords(farm, jobId);
    for (const r of records) {
      if (r.failedCode === 0) t.equal(await read(`out2/result.${r.taskid}.txt`), `task ${r.taskid} saw 50 textures, 50 lines\n`, `task ${r.taskid}: committed with intact outputs`);
      else t.match(r.failedReason, /uploading \$OUTDIR/, `task ${r.taskid}: failed only with the upload named as the reason`);
    }
    t.equal(records.find((r) => r.taskid === 1)!.failedCode, 0);
    t.equal(records.find((r) => r.taskid === 2)!.failedCode, 0);
    t.ok(records.find((r) => r.taskid === 3)!.attempts > 1, 'the task whose uploads kept failing ran again');
  });

  t.test('a slow upload overlaps with the next task: the slot is free while $OUTDIR uploads', async (t) => {
    await farm.startAgent('uploader', { slots: 1, group: 'uploads', env: ossEnv });
    oss.faults.add({ kind: 'slow', op: 'PutObject', key: /out3\/result\.1\./, delayMs: 4000, times: 1 });
    let putArrived = 0;
    const onRequest = (r: { op: string; key: string }): void => {
      if (r.op === 'PutObject' && /out3\/result\.1\./.test(r.key) && putArrived === 0) putArrived = Date.now();
    };
    oss.events.on('request', onRequest);
    t.teardown(() => oss.events.off('request', onRequest));
    const jobId = await farm.submit(['-cwd', '-q', 'uploads', '-N', 'overlap', '-t', '1-2', '-outdir', `oss://${BUCKET}/out3/`, '-b', 'y', 'sh', '-c', 'echo "$SGE_TASK_ID" > "$OUTDIR/result.$SGE_TASK_ID.txt"']);
    await farm.waitForJob(jobId, 60_000);
    const records = await accountingRecords(farm, jobId);
    const second = records.find((r) => r.taskid === 2)!;
    t.ok(putArrived > 0, 'task 1 uploaded its output');
    t.ok(second.startTime < putArrived + 3000, `task 2 started ${second.startTime - putArrived} ms after task 1's upload began, not after it ended (4 s later)`);
    t.equal(await read('out3/result.1.txt'), '1\n', 'and task 1 was committed only with its output in place');
  });

  t.test('a wrong secret fails the task with a reason naming the bucket and key id, never the secret', async (t) => {
    await farm.startAgent('badkey', { slots: 1, group: 'badkeys', env: { ...ossEnv, ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'not-the-secret-99' } });
    const jobId = await farm.submit(['-cwd', '-q', 'badkeys', '-N', 'badkey', '-data', `oss://${BUCKET}/scenes/:${mount}-bad:ro`, '-b', 'y', 'true']);
    await farm.waitForJob(jobId, 60_000);
    const [record] = await accountingRecords(farm, jobId);
    t.equal(record!.failedCode, 1, 'failed before the job ran');
    t.match(record!.failedReason, new RegExp(`bucket "${BUCKET}".*AccessKeyId "${KEY.accessKeyId}"`));
    t.notMatch(record!.failedReason, /not-the-secret-99/);
    t.notOk(fs.readFileSync(path.join(farm.home, 'agent-badkey.log'), 'utf8').includes('not-the-secret-99'), 'the secret is not in the agent log');
  });
});
