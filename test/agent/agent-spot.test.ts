import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { FakeAlibaba } from '../../fakes/alibaba/server.js';
import { assignment, FakeMaster, startAgent } from '../helpers/fake-master.js';

t.test('spot reclaim notice: the agent drains and hands back new assignments', async (t) => {
  const workdir = await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-agent-spot-'));
  const cloud = new FakeAlibaba();
  await cloud.listen();
  const res = cloud.ecs.handle('RunInstances', { RegionId: 'cn-hangzhou', InstanceType: 'ecs.c6.large', ImageId: 'm-1', SpotStrategy: 'SpotAsPriceGo' }) as {
    InstanceIdSets: { InstanceIdSet: string[] };
  };
  const id = res.InstanceIdSets.InstanceIdSet[0]!;
  const when = cloud.ecs.interrupt(id, 300_000);
  const master = await FakeMaster.start();
  const agent = await startAgent(master, ['--spot-watch'], { env: { QFARM_METADATA_URL: cloud.metadataUrl(id) } });
  t.teardown(async () => {
    await agent.stop();
    await master.close();
    await cloud.close();
    await fs.rm(workdir, { recursive: true, force: true });
  });
  const link = await master.connection(0);
  await link.waitFor((f) => f.type === 'hello');
  link.welcome();
  for (let i = 0; i < 100 && !/spot reclaim announced/.test(agent.stderr()); i++) await new Promise((r) => setTimeout(r, 50));
  t.match(agent.stderr(), /spot reclaim announced/);
  t.match(agent.stderr(), when);
  const a = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/echo', 'must-not-run'] } });
  link.send(a);
  const again = await master.connection(1);
  const hello = await again.waitFor((f) => f.type === 'hello');
  if (hello.type !== 'hello') throw new Error();
  t.same(hello.attempts, [], 'the assignment is not claimed: the master requeues it');
  t.notOk(link.frames.some((f) => f.type === 'started'));
});
