import t from 'tap';
import { WebSocket } from 'ws';
import { FakeOssServer } from '../../fakes/oss/server.js';
import { TestFarm } from '../helpers/farm.js';

/**
 * Messages that say what is wrong and whose it is (issue 13, "always say why"): an OSS setup
 * error in `qfarm get` is the user's, with what to check, not "a bug in qfarm"; a schema
 * failure on the agent socket names the field; `qfarm logs` tells a deleted or nonexistent task
 * from one that has not started; `qfarm group show` knows a group hand-started agents joined.
 */

const KEY = { accessKeyId: 'LTAIqfarmtest01', accessKeySecret: 'the-real-secret-4f1c' };

t.test('operators are told what is wrong, and whose it is', async (t) => {
  const oss = await FakeOssServer.start({ keys: [KEY], buckets: ['renders'] });
  t.teardown(() => oss.close());
  const ossEnv = { QFARM_OSS_ENDPOINT: oss.url, ALIBABA_CLOUD_ACCESS_KEY_ID: KEY.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: KEY.accessKeySecret };
  const farm = await TestFarm.start(t);
  await farm.startAgent('node1', { slots: 1, env: ossEnv });

  t.test('qfarm get with a wrong secret: the signature, the key, the clock and the endpoint, not a bug', async (t) => {
    const jobId = await farm.submit(['-cwd', '-outdir', 'oss://renders/out/', '-b', 'y', 'sh', '-c', 'echo hi > "$OUTDIR/a.txt"']);
    await farm.waitForJob(jobId, 60_000);
    const got = await farm.run('qfarm', ['get', String(jobId), `${farm.work}/got`], { env: { ...ossEnv, ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'not-the-secret' } });
    t.equal(got.code, 1);
    t.match(got.stderr, /qfarm: OSS rejected the signature for bucket "renders" with AccessKeyId "LTAIqfarmtest01"/);
    t.match(got.stderr, /hint: the secret does not match AccessKeyId "LTAIqfarmtest01": check ALIBABA_CLOUD_ACCESS_KEY_SECRET .*clock \(date -u.*endpoint \(QFARM_OSS_ENDPOINT/);
    t.notMatch(got.stderr, /bug in qfarm|internal error/);
    t.notMatch(got.stderr, /not-the-secret/, 'the secret is never printed');
  });

  t.test('a frame failing the schema on the agent socket is refused naming the field', async (t) => {
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
      const ws = new WebSocket(`${farm.url.replace(/^http/, 'ws')}/agent`, { headers: { authorization: `Bearer ${farm.token('agent')}` } });
      ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocolVersion: 1, agentVersion: 'x', agentId: 'probe', hostname: 'probe', group: 'default', arch: 'lx-amd64',
        cpus: 'four', sockets: 1, cores: 1, threads: 1, slots: 1, memTotalBytes: 1, swapTotalBytes: 0, labels: {}, attempts: [] })));
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      ws.on('error', () => undefined);
    });
    t.equal(closed.code, 4400);
    t.equal(closed.reason, 'invalid hello: /cpus Expected integer', 'the close reason names the field and what it must be');
    t.match(farm.masterLogText(), /"reason":"invalid hello: \/cpus Expected integer"/, "and so does the master's log");
  });

  t.test('qfarm logs of a task that does not exist, was deleted, or waits: each says which', async (t) => {
    const held = await farm.submit(['-cwd', '-h', '-t', '1-3', '-b', 'y', 'true']);
    const waits = await farm.run('qfarm', ['logs', `${held}.2`]);
    t.match(waits.stderr, new RegExp(`task ${held}\\.2 has not started yet`));
    const none = await farm.run('qfarm', ['logs', `${held}.7`]);
    t.match(none.stderr, new RegExp(`job ${held} has no task 7`));
    t.match(none.stderr, /its tasks are 1-3:1/);
    t.equal((await farm.run('qdel', [String(held)])).code, 0);
    const deleted = await farm.run('qfarm', ['logs', `${held}.2`]);
    t.match(deleted.stderr, new RegExp(`task ${held}\\.2 was deleted before it started: it has no output`));
    t.notMatch(deleted.stderr, /has not started yet/);
    const missing = await farm.run('qfarm', ['logs', '99999']);
    t.match(missing.stderr, /job 99999 does not exist/);
  });

  t.test('qfarm group show of a group that only hand-started agents joined', async (t) => {
    await farm.startAgent('gpu1', { slots: 2, group: 'gpu' });
    const shown = await farm.run('qfarm', ['group', 'show', 'gpu']);
    t.equal(shown.code, 0, shown.stderr);
    t.match(shown.stdout, /group: +gpu\nprovider: +none \(joined by agents started by hand with --group/);
    t.match(shown.stdout, /size: +1 online of 1 host\(s\); slots 0\/2 used/);
    t.match(shown.stdout, /\n {2}gpu1 +gpu +online +0\/2/);
    const unknown = await farm.run('qfarm', ['group', 'show', 'nosuch']);
    t.equal(unknown.code, 1, 'a group nobody made is still unknown');
  });
});
