import t from 'tap';
import { compileGroupSpec } from '../../protocol/groups.js';
import { ProviderRegistry, farmIdFor } from '../../master/providers/provider-registry.js';
import { FakeAlibaba } from '../../fakes/alibaba/server.js';

t.test('the registry builds providers from the environment, on first use', async (t) => {
  const fake = new FakeAlibaba({ accessKeys: { envkey: 'envsecret' } });
  await fake.listen();
  t.teardown(() => fake.close());
  const ecsGroup = compileGroupSpec({ name: 'r', provider: 'ecs', image: 'm', instanceTypes: ['t'], ecs: { regionId: 'cn-hangzhou', vSwitchId: 'v', securityGroupId: 's' } });

  const bare = new ProviderRegistry({ qfarmHome: '/tmp/h', masterUrl: 'http://127.0.0.1:1', agentToken: 'x', env: {} });
  t.equal(bare.providerFor({ provider: 'local' }).kind, 'local', 'local needs no credentials');
  t.throws(() => bare.providerFor(ecsGroup), { name: 'ProviderConfigError', message: /ALIBABA_CLOUD_ACCESS_KEY_ID/ });

  const reg = new ProviderRegistry({
    qfarmHome: '/tmp/h',
    masterUrl: 'http://127.0.0.1:1',
    agentToken: 'tok',
    env: { ALIBABA_CLOUD_ACCESS_KEY_ID: 'envkey', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'envsecret', QFARM_ECS_ENDPOINT: fake.url, QFARM_WORKER_MASTER_URL: 'http://10.0.0.2:7878' },
  });
  t.teardown(() => reg.close());
  const ecs = reg.providerFor(ecsGroup);
  t.equal(reg.providerFor(ecsGroup), ecs, 'one instance per kind');
  const [i] = await ecs.launch(ecsGroup, 1, 'reg-1');
  const made = fake.ecs.instances.get(i!.id)!;
  t.match(made.userData, /QFARM_MASTER='http:\/\/10\.0\.0\.2:7878'/, 'workers get the VPC address');
  t.same(made.Tags[0], { Key: 'qfarm:farm', Value: farmIdFor('/tmp/h') });
});

t.test('a TLS master: cloud workers get an https address and the fingerprint to pin', async (t) => {
  const fake = new FakeAlibaba({ accessKeys: { envkey: 'envsecret' } });
  await fake.listen();
  t.teardown(() => fake.close());
  const ecsGroup = compileGroupSpec({ name: 'r', provider: 'ecs', image: 'm', instanceTypes: ['t'], ecs: { regionId: 'cn-hangzhou', vSwitchId: 'v', securityGroupId: 's' } });
  const fingerprint = 'AB:'.repeat(31) + 'CD';
  const reg = new ProviderRegistry({
    qfarmHome: '/tmp/h',
    masterUrl: 'https://127.0.0.1:1',
    agentToken: 'tok',
    tlsFingerprint: fingerprint,
    // Written before TLS was on: the master serves only https on that port now.
    env: { ALIBABA_CLOUD_ACCESS_KEY_ID: 'envkey', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'envsecret', QFARM_ECS_ENDPOINT: fake.url, QFARM_WORKER_MASTER_URL: 'http://10.0.0.2:7878' },
  });
  t.teardown(() => reg.close());
  const [i] = await reg.providerFor(ecsGroup).launch(ecsGroup, 1, 'tls-1');
  const userData = fake.ecs.instances.get(i!.id)!.userData;
  t.match(userData, /QFARM_MASTER='https:\/\/10\.0\.0\.2:7878'/);
  t.match(userData, `QFARM_TLS_FINGERPRINT='${fingerprint}'`);
});
