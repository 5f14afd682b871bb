import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { FakeOssServer } from '../../fakes/oss/server.js';
import type { TaskAssignment } from '../../protocol/agent-messages.js';
import { parseDataMapping } from '../../storage/data-mappings.js';
import { assignment, FakeMaster, startAgent, type FakeAgentLink } from '../helpers/fake-master.js';
import { requireRoot } from '../helpers/unix-users.js';

// Part 3 of issue 12, agent side: a node set up wrongly fails a task's data with a reason that
// tells the administrator what to fix, and not as retryable (every try there fails the same
// way); a transient failure of the store stays retryable. Real agents, the local OSS fake.
requireRoot();
const KEY = { accessKeyId: 'LTAIqfarmconfig01', accessKeySecret: 'config-secret-3c1f' };
const BUCKET = 'configs';
const oss = await FakeOssServer.start({ keys: [KEY], buckets: [BUCKET] });
await oss.seed(BUCKET, 'scene/tex.txt', Buffer.from('texture\n'));
const master = await FakeMaster.start();
/** The agent's environment without any Alibaba credentials of the machine running the tests. */
const bareEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ALIBABA_CLOUD_') && !k.startsWith('QFARM_OSS_')));
const ossEnv = { QFARM_OSS_ENDPOINT: oss.url, QFARM_OSS_MOUNT: '0' };
const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-data-config-'));

// One agent without credentials; one with them whose stage cache (<state-dir>/cache) is a file.
const noCredentials = await startAgent(master, [], { env: { ...bareEnv, ...ossEnv } });
const noCredentialsLink = await master.connection(0);
const blockedStateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-agent-test-'));
await fs.writeFile(path.join(blockedStateDir, 'cache'), 'not a directory\n');
const blockedCache = await startAgent(master, [], {
  stateDir: blockedStateDir,
  env: { ...bareEnv, ...ossEnv, ALIBABA_CLOUD_ACCESS_KEY_ID: KEY.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: KEY.accessKeySecret },
});
const blockedCacheLink = await master.connection(1);
t.teardown(async () => {
  await noCredentials.stop();
  await blockedCache.stop();
  await master.close();
  await oss.close();
  await fs.rm(scratch, { recursive: true, force: true });
});
for (const link of [noCredentialsLink, blockedCacheLink]) {
  await link.waitFor((f) => f.type === 'hello');
  link.welcome();
}

function stagingTask(target: string): TaskAssignment {
  return assignment({ cwd: '/', data: { inputs: [parseDataMapping(`oss://${BUCKET}/scene/:${path.join(scratch, target)}:ro`)] }, command: { kind: 'binary', argv: ['/bin/true'] } });
}
async function run(link: FakeAgentLink, a: TaskAssignment) {
  link.send(a);
  const fin = await link.finished(a.attemptId, 60_000);
  link.send({ type: 'ack', attemptId: a.attemptId });
  return fin;
}

t.test('an agent without OSS credentials fails the task as final, naming the variables to set', async (t) => {
  const fin = await run(noCredentialsLink, stagingTask('no-credentials'));
  t.equal(fin.failedCode, 1, 'failed before the job ran');
  t.notOk(fin.retryable, 'not run again: every try on this node fails the same way');
  t.match(fin.failedReason, `input oss://${BUCKET}/scene/ could not be staged`, 'names the input');
  t.match(fin.failedReason, /no OSS credentials: .*Set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET/, 'says what to set');
  t.match(fin.failedReason, /a configuration problem of this node: an administrator must fix it; the task is not run again/, 'says who acts');
});

t.test('a store failing with 503 stays retryable: the task runs again', async (t) => {
  oss.faults.add({ kind: 'status', status: 503, op: 'ListObjectsV2', times: 1000 });
  t.teardown(() => oss.faults.clear());
  const fin = await run(blockedCacheLink, stagingTask('unavailable'));
  t.equal(fin.failedCode, 1);
  t.equal(fin.retryable, true, 'transient');
  t.match(fin.failedReason, /503/);
  t.notMatch(fin.failedReason, /administrator/);
});

t.test('an agent whose state dir holds no usable cache fails the task as final, naming --state-dir', async (t) => {
  const fin = await run(blockedCacheLink, stagingTask('blocked-cache'));
  t.equal(fin.failedCode, 1);
  t.notOk(fin.retryable, 'not run again');
  t.match(fin.failedReason, `the agent's stage cache ${path.join(blockedStateDir, 'cache')} cannot be used`);
  t.match(fin.failedReason, /give the agent a --state-dir it owns and can write/);
  t.match(fin.failedReason, /an administrator must fix it/);
});
