import t from 'tap';
import { createInterface } from 'node:readline';
import { compileGroupSpec } from '../../protocol/groups.js';
import { AlibabaCredentials } from '../../master/providers/alibaba-credentials.js';
import { EcsProvider } from '../../master/providers/ecs-provider.js';
import { BatchComputeProvider } from '../../master/providers/batchcompute-provider.js';
import { spawnTs } from '../helpers/spawn-ts.js';

/**
 * The fake as a separate process (`node dist/fakes/alibaba/main.js --port 0`; here run from
 * source): it prints its URL, and the providers work against it through QFARM_*_ENDPOINT-style
 * endpoints with keys given on its command line.
 */
t.test('standalone fake serves ECS, BatchCompute and metadata', async (t) => {
  const child = spawnTs('fakes/alibaba/main.ts', ['--port', '0', '--key', 'demo-key:demo-secret', '--cluster', 'farm:group1=ecs.sn1ne.large']);
  const exited = new Promise((r) => child.once('exit', r));
  t.teardown(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  const first = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('fake did not print its URL within 30 s')), 30_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
  });
  const info = JSON.parse(first) as { url: string; clusters: Record<string, string>; keys: string[] };
  t.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.same(info.keys, ['demo-key']);
  t.notMatch(first, 'demo-secret', 'secrets are not printed');

  const credentials = new AlibabaCredentials('demo-key', 'demo-secret');
  const ecs = new EcsProvider({ credentials, farmId: 'demo', endpoint: info.url, bootstrap: { masterUrl: 'http://m:1', agentToken: 't' } });
  const group = compileGroupSpec({ name: 'g', provider: 'ecs', instanceTypes: ['ecs.c6.large'], image: 'm-1', ecs: { regionId: 'cn-hangzhou', vSwitchId: 'v', securityGroupId: 's' } });
  const [inst] = await ecs.launch(group, 1, 'standalone-1');
  const ctl = await fetch(`${info.url}/_fake/interrupt?instance=${inst!.id}`, { method: 'POST' });
  t.equal(ctl.status, 200);
  const notice = await fetch(`${info.url}/metadata/${inst!.id}/latest/meta-data/instance/spot/termination-time`);
  t.equal(notice.status, 200);
  t.equal((await ecs.list(group))[0]!.interrupted, true);

  const bc = new BatchComputeProvider({ credentials, endpoint: info.url });
  const bcGroup = compileGroupSpec({ name: 'b', provider: 'batchcompute', batchcompute: { clusterId: info.clusters.farm!, groupName: 'group1' } });
  await bc.launch(bcGroup, 2, 'bc-standalone');
  t.equal((await bc.list(bcGroup)).length, 2);
});
