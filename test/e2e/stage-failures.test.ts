import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { FakeOssServer } from '../../fakes/oss/server.js';
import { TestFarm } from '../helpers/farm.js';
import { ATTACKER, ensureUser, requireRoot } from '../helpers/unix-users.js';

/**
 * Stage failures, the attempt cap and symlinks through a real farm (issue 15): an ordinary user
 * submits with qsub, a root agent stages from the local OSS and uploads $OUTDIR. A failed stage
 * reruns the task; the cap (`qfarm master --node-failure-attempts 2` here) ends it with the reason in words where the user looks
 * (`qacct -j` keeps SGE's `failed 1 : assumedly before job` words and adds the reason, `qfarm logs` says why); a
 * symlink in $OUTDIR fails the attempt with a reason naming the link and never uploads its target.
 */

requireRoot();
const mallory = ensureUser(ATTACKER);
const KEY = { accessKeyId: 'LTAIqfarmstage01', accessKeySecret: 'stage-secret-5b9a' };
const BUCKET = 'stages';

interface AccountingRecord {
  exitStatus: number;
  failedCode: number;
  failedReason: string;
  attempts: number;
  owner: string;
}

function attemptsOf(farm: TestFarm, jobId: number): { state: string; failed_reason: string | null }[] {
  const db = new Database(path.join(farm.home, 'store.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT state, failed_reason FROM attempts WHERE job_id = ? ORDER BY leased_at, rowid').all(jobId) as never;
  } finally {
    db.close();
  }
}

const oss = await FakeOssServer.start({ keys: [KEY], buckets: [BUCKET] });
t.teardown(() => oss.close());
const ossEnv = { QFARM_OSS_ENDPOINT: oss.url, ALIBABA_CLOUD_ACCESS_KEY_ID: KEY.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: KEY.accessKeySecret, QFARM_OSS_MOUNT: '0' };
// One host fails the same job on purpose: the black-hole rule (host error state E after 3 setup
// failures) would take it out before the later cases run, so it is off here. Two node failures
// per task, not the default three: the option reaches the store.
const farm = await TestFarm.start(t, { masterArgs: ['--host-error-after', '0', '--node-failure-attempts', '2'] });
await farm.startAgent('node1', { slots: 2, env: ossEnv });
await oss.seed(BUCKET, 'flaky/texture.txt', Buffer.from('flaky texture\n'));
await oss.seed(BUCKET, 'broken/texture.txt', Buffer.from('never readable\n'));
const mount = path.join(mallory.home, `scene-${process.pid}`);
t.teardown(() => fs.rmSync(mount, { recursive: true, force: true }));

/** qsub as mallory, in her home; the job id. */
async function submitAsMallory(args: string[]): Promise<number> {
  const res = await farm.runAs(mallory, 'qsub', ['-terse', '-q', 'default', ...args]);
  if (res.code !== 0) throw new Error(`qsub ${args.join(' ')} as ${mallory.name} failed (${res.code}): ${res.stderr}`);
  return Number.parseInt(res.stdout, 10);
}

async function accounting(jobId: number): Promise<AccountingRecord> {
  const records = ((await farm.api('GET', `/accounting?job=${jobId}`)) as { records: AccountingRecord[] }).records;
  if (records.length !== 1) throw new Error(`job ${jobId}: expected one accounting record, got ${records.length}`);
  return records[0]!;
}

t.test('a stage that fails on the node reruns the task, which then succeeds', async (t) => {
  // Five 503s: every try of the adapter's first download fails, so the first attempt's stage does.
  oss.faults.add({ kind: 'status', status: 503, op: 'GetObject', key: /^flaky\/texture\.txt$/, times: 5 });
  const jobId = await submitAsMallory(['-N', 'flaky', '-data', `oss://${BUCKET}/flaky/:${mount}:ro`, '-b', 'y', 'cat', `${mount}/texture.txt`]);
  await farm.waitForJob(jobId, 60_000);

  const record = await accounting(jobId);
  t.match(record, { owner: mallory.name, failedCode: 0, exitStatus: 0, attempts: 2 }, 'committed as a success on the second attempt');
  const [first, second] = attemptsOf(farm, jobId);
  t.equal(first!.state, 'failed', 'the first attempt failed on the node');
  t.match(first!.failed_reason, `oss://${BUCKET}/flaky/texture.txt`, 'its reason names the object that could not be staged');
  t.equal(second!.state, 'done');
  t.equal(oss.stats.count('GetObject', { key: /^flaky\/texture\.txt$/ }), 6, 'five failed GETs, then one that worked');
  const logs = await farm.runAs(mallory, 'qfarm', ['logs', String(jobId)]);
  t.equal(logs.stdout, 'flaky texture\n', 'the rerun read the staged input');
});

t.test('a stage that keeps failing stops at the attempt cap, with the reason in words', async (t) => {
  oss.faults.add({ kind: 'status', status: 503, op: 'GetObject', key: /^broken\/texture\.txt$/, times: 1000 });
  const jobId = await submitAsMallory(['-N', 'broken', '-data', `oss://${BUCKET}/broken/:${mount}-b:ro`, '-b', 'y', 'cat', `${mount}-b/texture.txt`]);
  t.teardown(() => fs.rmSync(`${mount}-b`, { recursive: true, force: true }));
  await farm.waitForJob(jobId, 60_000);

  const record = await accounting(jobId);
  t.match(record, { failedCode: 1, attempts: 2 }, 'two attempts (--node-failure-attempts 2), then the task ends failed');
  t.match(record.failedReason, `oss://${BUCKET}/broken/texture.txt`, 'the committed reason names the object');
  t.match(record.failedReason, /503/, 'and what the store answered');
  t.same(attemptsOf(farm, jobId).map((a) => a.state), ['failed', 'done'], 'one rerun, the second failure is committed');
  t.equal(oss.stats.count('GetObject', { key: /^broken\/texture\.txt$/ }), 10, 'each attempt tried the download five times');

  const qacct = await farm.runAs(mallory, 'qacct', ['-j', String(jobId)]);
  t.equal(qacct.code, 0, qacct.stderr);
  t.match(qacct.stdout, new RegExp(`^failed\\s+1\\s+: assumedly before job: .*oss://${BUCKET}/broken/texture\\.txt`, 'm'), "qacct: SGE's words for failed code 1, then the reason naming the object");
  const logs = await farm.runAs(mallory, 'qfarm', ['logs', String(jobId)]);
  t.equal(logs.code, 0, logs.stderr);
  t.equal(logs.stdout, '', 'the task never ran: no output');
  t.match(logs.stderr, new RegExp(`task ${jobId}\\.1 failed after 2 attempts: .*oss://${BUCKET}/broken/texture\\.txt`), 'qfarm logs says why, in words');
});

t.test('a symlink in $OUTDIR fails the attempt with a reason naming the link; its target is never uploaded', async (t) => {
  const jobId = await submitAsMallory(['-N', 'linker', '-outdir', `oss://${BUCKET}/sym/`, '-b', 'y', 'sh', '-c', 'echo mine > "$OUTDIR/ok.txt"; ln -s /etc/shadow "$OUTDIR/loot"']);
  await farm.waitForJob(jobId, 60_000);

  const record = await accounting(jobId);
  t.equal(record.failedCode, 100, 'the task does not end as a success: it ran, its upload failed (SGE\'s "assumedly after job")');
  t.match(record.failedReason, /loot: is a symbolic link/, 'the reason names the link');
  const attempts = attemptsOf(farm, jobId);
  t.ok(attempts.length >= 1, `${attempts.length} attempt(s)`);
  for (const a of attempts) t.match(a.failed_reason, /loot: is a symbolic link/, 'every attempt failed on the link');
  t.equal(oss.object(BUCKET, 'sym/loot'), undefined, "the link's target was not uploaded");
  t.equal(oss.stats.count('PutObject', { key: /^sym\/loot/ }), 0, 'nothing was even sent for it');
  const qacct = await farm.runAs(mallory, 'qacct', ['-j', String(jobId)]);
  t.match(qacct.stdout, /^failed\s+100 : assumedly after job: the task ran \(exit 0\) but .*loot: is a symbolic link/m);
});
