import t from 'tap';
import { Readable } from 'node:stream';
import { FakeEcsMetadataServer } from '../../fakes/oss/ecs-metadata-server.js';
import { FakeOssServer } from '../../fakes/oss/server.js';
import {
  credentialsFromEnv,
  EcsRamRoleCredentials,
  MissingCredentialsError,
  resolveCredentials,
} from '../../storage/oss-credentials.js';
import { StoreResolver } from '../../storage/open-store.js';
import { OssStore } from '../../storage/oss-store.js';

t.test('environment credentials use the standard Alibaba names', async (t) => {
  t.same(credentialsFromEnv({ ALIBABA_CLOUD_ACCESS_KEY_ID: 'id', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'sk', ALIBABA_CLOUD_SECURITY_TOKEN: 'tok' }), {
    accessKeyId: 'id',
    accessKeySecret: 'sk',
    securityToken: 'tok',
  });
  t.equal(credentialsFromEnv({}), undefined);
  t.throws(() => credentialsFromEnv({ ALIBABA_CLOUD_ACCESS_KEY_ID: 'id' }), MissingCredentialsError);
  const err = (() => {
    try {
      credentialsFromEnv({ ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'the-secret' });
    } catch (e) {
      return e as Error;
    }
  })();
  t.notOk(err?.message.includes('the-secret'), 'the secret is not echoed');
  t.equal((await resolveCredentials({ accessKeyId: 'cfg', accessKeySecret: 's' }, { ALIBABA_CLOUD_ACCESS_KEY_ID: 'env', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 's' }).get()).accessKeyId, 'cfg', 'config wins over env');
  t.throws(() => resolveCredentials({}, {}), { name: 'MissingCredentialsError', message: /ALIBABA_CLOUD_ACCESS_KEY_ID/ });
});

t.test('ECS RAM role: STS credentials from the metadata server (hardened mode) reach OSS', async (t) => {
  const sts = { AccessKeyId: 'STS.roleKey1', AccessKeySecret: 'role-secret-1', SecurityToken: 'sts-token-1', Expiration: new Date(Date.now() + 3600_000).toISOString() };
  const meta = await FakeEcsMetadataServer.start('qfarm-worker', sts);
  t.teardown(() => meta.close());
  const oss = await FakeOssServer.start({
    keys: [{ accessKeyId: sts.AccessKeyId, accessKeySecret: sts.AccessKeySecret, securityToken: sts.SecurityToken }],
    buckets: ['role-bucket'],
  });
  t.teardown(() => oss.close());

  // Discovered role, via env, as an agent on ECS would run.
  const resolver = new StoreResolver({ oss: { endpoint: oss.url } }, { QFARM_OSS_RAM_ROLE: 'auto', QFARM_ECS_METADATA_URL: meta.url });
  const { store } = resolver.forUrl('oss://role-bucket/x');
  await store.put('x', Readable.from([Buffer.from('via role')]));
  t.equal((await store.head('x')).size, 8);
  t.ok(meta.requests.includes('PUT /latest/api/token'), 'used the hardened-mode token');
  t.ok(meta.requests.includes('GET /latest/meta-data/ram/security-credentials/'), 'discovered the role');
  t.equal(meta.requests.filter((r) => r.endsWith('/qfarm-worker')).length, 1, 'credentials cached until near expiry');

  // Near expiry they are fetched again (and the client picks up the new key).
  const provider = new EcsRamRoleCredentials({ roleName: 'qfarm-worker', metadataUrl: meta.url });
  meta.credentials = { ...sts, Expiration: new Date(Date.now() + 60_000).toISOString() };
  await provider.get();
  await provider.get();
  t.equal(meta.requests.filter((r) => r.endsWith('/qfarm-worker')).length, 3, 'expiring in < 5 min: refreshed each time');

  // A wrong token is an auth error that names the key id and bucket.
  const badProvider = { source: 'test', get: async () => ({ accessKeyId: sts.AccessKeyId, accessKeySecret: sts.AccessKeySecret, securityToken: 'stale' }) };
  const bad = new OssStore({ bucket: 'role-bucket', endpoint: oss.url, credentials: badProvider, retry: { maximumAttempts: 1 } });
  await t.rejects(bad.head('x'), { name: 'OssAuthError', message: /security token of AccessKeyId "STS\.roleKey1" for bucket "role-bucket"/ });
});

t.test('no metadata server: a clear error, quickly', async (t) => {
  const provider = new EcsRamRoleCredentials({ metadataUrl: 'http://127.0.0.1:9', timeoutMs: 500 });
  await t.rejects(provider.get(), { name: 'MissingCredentialsError', message: /metadata server http:\/\/127\.0\.0\.1:9/ });
});
