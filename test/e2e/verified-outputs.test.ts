import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FakeOssServer } from '../../fakes/oss/server.js';
import { crc64 } from '../../storage/crc64.js';
import { TestFarm } from '../helpers/farm.js';
import { accountingRecords } from '../helpers/farm-records.js';
import { FakeAgent, finishedFrame, helloFrame } from '../helpers/fake-agent.js';

/**
 * Verified outputs (issue 15): a task of a job with an output location is committed only with
 * its outputs proven in place. The master refuses a success without the agent's verified
 * manifest, and corruption that Content-MD5 cannot see (the store damaging a multipart object)
 * is caught by the agent's CRC-64 comparison, failing the attempt so that the task reruns.
 */

t.test('the master refuses a success without a verified manifest of the output location; the task reruns, then the cap ends it', async (t) => {
  // The only host keeps failing on purpose: the black-hole rule (host error state E) would stop
  // assigning to it before the attempt cap is reached, so it is off here.
  const farm = await TestFarm.start(t, { agents: 0, masterArgs: ['--host-error-after', '0'] });
  const agent = await FakeAgent.join(farm.url, farm.token('agent'), helloFrame({ group: 'fakeq' }));
  const beat = setInterval(() => agent.send({ type: 'heartbeat', load1: 0, memUsedBytes: 0, swapUsedBytes: 0, running: [] }), 200);
  t.teardown(() => clearInterval(beat));
  const outputUrl = `file://${farm.work}/out/`;
  const manifest = (destination: string) => ({ destination, files: [{ path: 'a.txt', url: `${destination}a.txt`, size: 2, crc64: '0', etag: '"x"' }], totalBytes: 2, elapsedMs: 1 });

  const jobId = await farm.submit(['-q', 'fakeq', '-cwd', '-outdir', outputUrl, '-b', 'y', 'true']);
  const tries: [string, Record<string, unknown>][] = [
    ['no manifest at all', {}],
    ['a manifest of another location', { outputs: manifest(`file://${farm.work}/elsewhere/`) }],
    ['no manifest again', {}],
  ];
  const attempts: string[] = [];
  for (const [what, extra] of tries) {
    const assign = await agent.next('assign');
    const attemptId = assign['attemptId'] as string;
    attempts.push(attemptId);
    agent.send({ type: 'started', attemptId, pid: 4242, startedAt: Date.now() });
    agent.send({ ...finishedFrame(attemptId, 0), ...extra });
    t.equal((await agent.next('ack'))['attemptId'], attemptId, `${what}: acknowledged (the agent forgets the result)`);
  }
  await farm.waitForJob(jobId);
  t.equal(new Set(attempts).size, 3, 'each refusal sent the task out again as a new attempt');
  const [record] = await accountingRecords(farm, jobId);
  t.equal(record!.attempts, 3, 'three attempts: the cap');
  t.equal(record!.failedCode, 1, 'the task ends failed, not as a success');
  t.match(record!.failedReason, `the agent reported success but it sent no verified output manifest for the job's output location ${outputUrl}`);
  const qacct = await farm.run('qacct', ['-j', String(jobId)]);
  t.match(qacct.stdout, /^failed\s+1\s+: assumedly before job: .*verified/m, 'qacct shows it failed: SGE\'s text for code 1, then the reason in words');
  t.match(farm.masterLogText(), /refused a success without verified outputs/, 'the master logs each refusal');

  const good = await farm.submit(['-q', 'fakeq', '-cwd', '-outdir', outputUrl, '-b', 'y', 'true']);
  const assign = await agent.next('assign');
  const attemptId = assign['attemptId'] as string;
  agent.send({ ...finishedFrame(attemptId, 0), outputs: manifest(outputUrl) });
  await agent.next('ack');
  await farm.waitForJob(good);
  t.match(await accountingRecords(farm, good), [{ failedCode: 0, exitStatus: 0, attempts: 1 }], 'with the manifest of its location, the success is committed at once');

  const plain = await farm.submit(['-q', 'fakeq', '-cwd', '-b', 'y', 'true']);
  const plainAttempt = (await agent.next('assign'))['attemptId'] as string;
  agent.send(finishedFrame(plainAttempt, 0));
  await agent.next('ack');
  await farm.waitForJob(plain);
  t.match(await accountingRecords(farm, plain), [{ failedCode: 0, attempts: 1 }], 'a job without an output location needs no manifest');
  agent.close();
});

t.test('a multipart output the store corrupts (MD5 cannot see it) fails the attempt by CRC-64; the task reruns with intact outputs', async (t) => {
  const KEY = { accessKeyId: 'LTAIqfarmtest01', accessKeySecret: 'the-real-secret-4f1c' };
  const oss = await FakeOssServer.start({ keys: [KEY], buckets: ['renders'] });
  t.teardown(() => oss.close());
  const ossEnv = { QFARM_OSS_ENDPOINT: oss.url, ALIBABA_CLOUD_ACCESS_KEY_ID: KEY.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: KEY.accessKeySecret };
  const farm = await TestFarm.start(t);
  await farm.startAgent('node1', { slots: 1, env: ossEnv });
  // 64 MiB: at the adapter's multipart threshold. Every part arrives intact (its MD5 checks out);
  // the object is damaged as it is assembled, in all 5 of the adapter's tries of the first attempt.
  const size = 64 * 1024 * 1024;
  oss.faults.add({ kind: 'corrupt', op: 'CompleteMultipartUpload', key: /^big\/frame\.bin$/, times: 5 });
  const jobId = await farm.submit(['-q', 'default', '-cwd', '-outdir', 'oss://renders/big/', '-b', 'y', 'sh', '-c', `awk 'BEGIN { for (i = 0; i < ${size / 64}; i++) printf "%063d\\n", i }' > "$OUTDIR/frame.bin"`]);
  await farm.waitForJob(jobId, 180_000);

  const [record] = await accountingRecords(farm, jobId);
  t.equal(record!.failedCode, 0, `committed as a success (${record!.failedReason})`);
  t.equal(record!.attempts, 2, 'on the second attempt: the first failed on the corrupted object');
  t.equal(oss.stats.count('CompleteMultipartUpload', { key: /^big\// }), 6, 'five corrupted assemblies, then a good one');
  t.equal(oss.stats.count('UploadPart', { key: /^big\//, ok: false }), 0, 'no part was refused: nothing but the CRC-64 could see the damage');
  const agentLog = fs.readFileSync(path.join(farm.home, 'agent-node1.log'), 'utf8');
  t.match(agentLog, /CRC-64 mismatch on upload of oss:\/\/renders\/big\/frame\.bin/, 'the agent\'s CRC-64 comparison is what caught it');
  const stored = fs.readFileSync(oss.object('renders', 'big/frame.bin')!.file);
  let expected = '';
  for (let i = 0; i < size / 64; i++) expected += `${String(i).padStart(63, '0')}\n`;
  t.equal(stored.length, size);
  t.equal(crc64(stored), crc64(Buffer.from(expected)), 'the committed object is the one the task wrote');
});
