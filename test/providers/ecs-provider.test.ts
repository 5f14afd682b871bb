import t from 'tap';
import { compileGroupSpec } from '../../protocol/groups.js';
import { AlibabaCredentials } from '../../master/providers/alibaba-credentials.js';
import { EcsProvider, TAG_FARM, TAG_GROUP } from '../../master/providers/ecs-provider.js';
import {
  InvalidImageError,
  ProviderAuthError,
  ProviderUnavailableError,
  QuotaExceededError,
  StockOutError,
} from '../../master/providers/errors.js';
import { DROP_RESPONSE, FakeAlibaba } from '../../fakes/alibaba/server.js';
import type { FakeEcsOptions } from '../../fakes/alibaba/ecs-fake.js';

const KEY = 'qfarm-test-key';
const SECRET = 'fake-secret-value-0123456789';

async function setup(t: { teardown(fn: () => unknown): void }, ecs: FakeEcsOptions = {}, secret = SECRET, pageSize = 100) {
  const fake = new FakeAlibaba({ accessKeys: { [KEY]: SECRET }, ecs });
  const url = await fake.listen();
  t.teardown(() => fake.close());
  const provider = new EcsProvider({
    credentials: new AlibabaCredentials(KEY, secret),
    farmId: 'farm-test',
    endpoint: url,
    bootstrap: { masterUrl: 'http://10.0.0.5:7878', agentToken: "tok'en$(rm -rf /)" },
    retry: { maximumAttempts: 4, initialIntervalMs: 1, maximumIntervalMs: 5 },
    pageSize,
  });
  return { fake, provider };
}

const group = compileGroupSpec({
  name: 'render',
  provider: 'ecs',
  instanceTypes: ['ecs.c6.xlarge', 'ecs.c5.xlarge'],
  image: 'm-qfarm-worker',
  maxSize: 50,
  slotsPerInstance: 4,
  spot: { strategy: 'price-limit', maxPrice: 0.25 },
  labels: { gpu: 'no' },
  ecs: { regionId: 'cn-shenzhen', vSwitchId: 'vsw-1', securityGroupId: 'sg-1', autoReleaseHours: 12 },
});

t.test('launch sends the documented RunInstances shape and the fake accepts the signature', async (t) => {
  const { fake, provider } = await setup(t);
  const launched = await provider.launch(group, 3, 'render-scale-1');
  t.equal(launched.length, 3);
  t.ok(launched.every((i) => i.state === 'pending' && i.spot && i.hourlyPrice === 0.25));
  t.ok(Math.abs(launched[0]!.autoReleaseAt! - (Date.now() + 12 * 3600_000)) < 120_000);
  t.equal((await provider.list(group))[0]!.autoReleaseAt, launched[0]!.autoReleaseAt, 'listed with the same auto-release time');
  const call = fake.ecs.calls.find((c) => c.action === 'RunInstances')!;
  t.equal(call.params.Amount, '3');
  t.equal(call.params.ClientToken, 'render-scale-1');
  t.equal(call.params.SpotStrategy, 'SpotWithPriceLimit');
  t.equal(call.params.SpotPriceLimit, '0.25');
  t.equal(call.params.InstanceChargeType, 'PostPaid');
  t.equal(call.params['Tag.1.Key'], TAG_FARM);
  t.equal(call.params['Tag.2.Value'], 'render');
  const release = Date.parse(call.params.AutoReleaseTime!);
  t.ok(Math.abs(release - (Date.now() + 12 * 3600_000)) < 120_000, 'AutoReleaseTime about 12 h ahead');
  const inst = fake.ecs.instances.get(launched[0]!.id)!;
  t.match(inst.userData, /QFARM_MASTER='http:\/\/10\.0\.0\.5:7878'/);
  // The token's quote and $( ) stay inert inside single quotes.
  t.ok(inst.userData.includes(`QFARM_AGENT_TOKEN='tok'\\''en$(rm -rf /)'`));
  t.match(inst.userData, /QFARM_SLOTS='4'/);
  t.match(inst.userData, /QFARM_LABELS='gpu=no'/);
});

t.test('a retry with the same ClientToken after a lost answer does not launch twice', async (t) => {
  const { fake, provider } = await setup(t);
  fake.failNext('RunInstances', DROP_RESPONSE);
  const launched = await provider.launch(group, 2, 'token-dropped');
  t.equal(launched.length, 2);
  t.equal(fake.ecs.instances.size, 2, 'the dropped call and its retry made 2 machines, not 4');
  t.equal(fake.log.filter((l) => l.what === 'RunInstances').length, 2, 'first call dropped, second answered');
  const again = await provider.launch(group, 2, 'token-dropped');
  t.same(again.map((i) => i.id).sort(), launched.map((i) => i.id).sort(), 'same token, same instances');
  t.equal(fake.ecs.instances.size, 2);
});

t.test('throttling is retried with backoff; client errors are not', async (t) => {
  const { fake, provider } = await setup(t, { knownImages: ['m-qfarm-worker'] });
  fake.failNext('RunInstances', 'Throttling.User', 2);
  const launched = await provider.launch(group, 1, 'tok-throttle');
  t.equal(launched.length, 1);
  t.equal(fake.log.filter((l) => l.what === 'RunInstances').length, 3);

  fake.failNext('DescribeInstances', 'ServiceUnavailable', 10);
  await t.rejects(provider.list(group), ProviderUnavailableError);

  const before = fake.log.length;
  await t.rejects(provider.launch({ ...group, image: 'm-missing' }, 1, 'tok-img'), InvalidImageError);
  t.equal(fake.log.length - before, 1, 'InvalidImageId is not retried');
});

t.test('quota and stock errors map to named errors; stock-out falls back to the next type', async (t) => {
  const { fake, provider } = await setup(t, { noStockTypes: ['ecs.c6.xlarge'], quota: 3 });
  const launched = await provider.launch(group, 2, 'tok-stock');
  t.equal(launched[0]!.instanceType, 'ecs.c5.xlarge', 'fell back to the second type');
  const onlyFirst = { ...group, instanceTypes: ['ecs.c6.xlarge'] };
  const err = await provider.launch(onlyFirst, 1, 'tok-stock2').catch((e: unknown) => e);
  t.type(err, StockOutError);
  t.match((err as Error).message, /OperationDenied\.NoStock.*fallback instanceTypes/);
  const q = await provider.launch(group, 5, 'tok-quota').catch((e: unknown) => e);
  t.type(q, QuotaExceededError);
  t.match((q as Error).message, /QuotaExceed\.ElasticQuota.*Raise the quota/);
  t.equal(fake.ecs.instances.size, 2);
});

t.test('a wrong secret is refused by the fake; the error names the key id, never the secret', async (t) => {
  const wrong = 'this-is-the-wrong-secret';
  const { fake, provider } = await setup(t, {}, wrong);
  const err = await provider.launch(group, 1, 'tok-auth').catch((e: unknown) => e);
  t.type(err, ProviderAuthError);
  const msg = (err as Error).message;
  t.match(msg, /SignatureDoesNotMatch/);
  t.match(msg, KEY);
  t.notMatch(msg, wrong);
  t.notMatch(msg, SECRET);
  t.notMatch(JSON.stringify(err), wrong);
  t.equal(fake.ecs.instances.size, 0);
  t.equal(fake.log.at(-1)?.code, 'SignatureDoesNotMatch');

  const stranger = new EcsProvider({
    credentials: new AlibabaCredentials('unknown-key', SECRET),
    farmId: 'farm-test',
    endpoint: fake.url,
    bootstrap: { masterUrl: 'http://m', agentToken: 't' },
  });
  await t.rejects(stranger.list(group), { name: 'ProviderAuthError', code: 'InvalidAccessKeyId.NotFound' });
});

t.test('list pages through DescribeInstances and only sees our tags; terminate deletes and tolerates gone ids', async (t) => {
  const { fake, provider } = await setup(t, {}, SECRET, 2);
  const a = await provider.launch(group, 5, 'tok-page');
  // A machine of another group in the same farm must not show up.
  await provider.launch({ ...group, name: 'other' }, 1, 'tok-other');
  const listed = await provider.list(group);
  t.equal(listed.length, 5);
  t.same(listed.map((i) => i.id).sort(), a.map((i) => i.id).sort());
  const describes = fake.ecs.calls.filter((c) => c.action === 'DescribeInstances');
  t.equal(describes.length, 3, '5 instances at 2 per page = 3 pages');
  t.ok(describes[1]!.params.NextToken, 'second page asked with NextToken');
  t.ok(listed.every((i) => i.state === 'running' && i.privateIp));

  await provider.terminate(group, [a[0]!.id, a[1]!.id, 'i-already-gone']);
  t.equal((await provider.list(group)).length, 3);
  const del = fake.ecs.calls.find((c) => c.action === 'DeleteInstances')!;
  t.equal(del.params.Force, 'true');
  t.equal(del.params['InstanceId.2'], a[1]!.id);
  t.notOk(del.params['InstanceId.3'], 'the unknown id was not sent');
});

t.test('a spot reclaim notice shows as interrupted in list and in the metadata service', async (t) => {
  const { fake, provider } = await setup(t);
  const [inst] = await provider.launch(group, 1, 'tok-spot');
  const res0 = await fetch(`${fake.metadataUrl(inst!.id)}/latest/meta-data/instance/spot/termination-time`);
  t.equal(res0.status, 404);
  const when = fake.ecs.interrupt(inst!.id);
  const res1 = await fetch(`${fake.metadataUrl(inst!.id)}/latest/meta-data/instance/spot/termination-time`);
  t.equal(await res1.text(), when);
  const [listed] = await provider.list(group);
  t.equal(listed!.interrupted, true);
  t.equal(listed!.state, 'stopping');
});

t.test('more than 100 machines go out in batches of at most 100 (RunInstances Amount limit)', async (t) => {
  const { fake, provider } = await setup(t);
  const launched = await provider.launch(group, 130, 'big-launch');
  t.equal(launched.length, 130);
  t.same(fake.ecs.calls.filter((c) => c.action === 'RunInstances').map((c) => [c.params.Amount, c.params.ClientToken]), [['100', 'big-launch-b0'], ['30', 'big-launch-b1']]);
  t.equal((await provider.list(group)).length, 130);
});
