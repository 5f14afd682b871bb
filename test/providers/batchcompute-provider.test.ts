import t from 'tap';
import { compileGroupSpec } from '../../protocol/groups.js';
import { AlibabaCredentials } from '../../master/providers/alibaba-credentials.js';
import { BatchComputeProvider } from '../../master/providers/batchcompute-provider.js';
import { ProviderAuthError } from '../../master/providers/errors.js';
import { DROP_RESPONSE, FakeAlibaba } from '../../fakes/alibaba/server.js';

async function setup(t: { teardown(fn: () => unknown): void }, secret = 'bc-secret', minDesiredVMCount?: number) {
  const fake = new FakeAlibaba({ accessKeys: { 'bc-key': 'bc-secret' }, ...(minDesiredVMCount === undefined ? {} : { batchCompute: { minDesiredVMCount } }) });
  await fake.listen();
  t.teardown(() => fake.close());
  const clusterId = fake.batchCompute.addCluster('qfarm', { group1: { instanceType: 'ecs.sn1ne.large', desired: 1 } });
  const provider = new BatchComputeProvider({
    credentials: new AlibabaCredentials('bc-key', secret),
    endpoint: fake.url,
    retry: { maximumAttempts: 3, initialIntervalMs: 1, maximumIntervalMs: 2 },
    pageSize: 2,
  });
  const spec = compileGroupSpec({ name: 'bc', provider: 'batchcompute', instanceTypes: ['ecs.sn1ne.large'], maxSize: 20, batchcompute: { clusterId, groupName: 'group1' } });
  return { fake, provider, spec, clusterId };
}

t.test('launch raises DesiredVMCount; list pages with Marker; terminate removes the chosen machines', async (t) => {
  const { fake, provider, spec, clusterId } = await setup(t);
  const launched = await provider.launch(spec, 4, 'bc-1');
  t.equal(launched.length, 4);
  const put = fake.batchCompute.calls.find((c) => c.method === 'PUT')!;
  t.same(put.body, { Groups: { group1: { DesiredVMCount: 5 } } });
  const listed = await provider.list(spec);
  t.equal(listed.length, 5);
  const lists = fake.batchCompute.calls.filter((c) => c.method === 'GET' && c.path.endsWith('/instances'));
  t.ok(lists.some((c) => c.query.Marker), 'later pages asked with Marker');
  t.equal(lists.at(-1)!.query.MaxItemCount, '2');

  // Same token again: absolute target, nothing added.
  await provider.launch(spec, 4, 'bc-1');
  t.equal((await provider.list(spec)).length, 5);

  // A lost answer to the PUT is retried: the size is absolute, so still 5 + 1.
  fake.failNext(`PUT /clusters/${clusterId}`, DROP_RESPONSE);
  await provider.launch(spec, 1, 'bc-2');
  t.equal((await provider.list(spec)).length, 6);

  const victims = [listed[0]!.id, listed[2]!.id];
  await provider.terminate(spec, victims);
  const after = (await provider.list(spec)).map((i) => i.id);
  t.equal(after.length, 4);
  t.notOk(after.includes(victims[0]!));
  t.notOk(after.includes(victims[1]!));
  t.equal(fake.batchCompute.clusters.get(clusterId)!.groups.get('group1')!.DesiredVMCount, 4);
});

t.test('a group cannot be resized to 0 (documented range [1, 65536]): one machine stays, with a warning', async (t) => {
  const { provider, spec } = await setup(t);
  const [only] = await provider.list(spec);
  await provider.terminate(spec, [only!.id]);
  t.equal((await provider.list(spec)).length, 1);
});

t.test('ROA signature checked: a wrong secret is an auth error naming the key id only', async (t) => {
  const { fake, provider, spec } = await setup(t, 'not-the-secret');
  const err = await provider.list(spec).catch((e: unknown) => e);
  t.type(err, ProviderAuthError);
  t.match((err as Error).message, /SignatureDoesNotMatch.*bc-key/s);
  t.notMatch((err as Error).message, /not-the-secret|bc-secret/);
  t.equal(fake.log.at(-1)!.status, 403);
});
