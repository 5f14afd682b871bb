import t from 'tap';
import { StoreResolver, ossConfigFromEnv } from '../../storage/open-store.js';
import { StaticCredentials } from '../../storage/oss-credentials.js';
import { OssStore } from '../../storage/oss-store.js';

const creds = new StaticCredentials({ accessKeyId: 'id', accessKeySecret: 'sk' }, 'test');

t.test('endpoints: region, internal (VPC), explicit override', async (t) => {
  t.equal(new OssStore({ bucket: 'b-1', credentials: creds }).endpointUrl(), 'https://oss-cn-hangzhou.aliyuncs.com');
  t.equal(new OssStore({ bucket: 'b-1', credentials: creds, region: 'cn-shanghai', internal: true }).endpointUrl(), 'https://oss-cn-shanghai-internal.aliyuncs.com');
  t.equal(new OssStore({ bucket: 'b-1', credentials: creds, region: 'oss-ap-southeast-1' }).endpointUrl(), 'https://oss-ap-southeast-1.aliyuncs.com');
  t.equal(new OssStore({ bucket: 'b-1', credentials: creds, endpoint: 'http://127.0.0.1:9000/' }).endpointUrl(), 'http://127.0.0.1:9000');
  t.equal(new OssStore({ bucket: 'b-1', credentials: creds, endpoint: 'https://oss-eu-central-1-internal.aliyuncs.com' }).region(), 'eu-central-1', 'V4 region read from the endpoint');
});

t.test('environment overrides', async (t) => {
  t.same(
    ossConfigFromEnv({ region: 'cn-beijing' }, { QFARM_OSS_ENDPOINT: 'http://127.0.0.1:1', QFARM_OSS_INTERNAL: '1', QFARM_OSS_SIGNATURE: 'V4', QFARM_OSS_PATH_STYLE: 'true' }),
    { region: 'cn-beijing', endpoint: 'http://127.0.0.1:1', internal: true, authorizationV4: true, pathStyle: true },
  );
  const resolver = new StoreResolver({ oss: { credentials: creds } }, { QFARM_OSS_ENDPOINT: 'http://127.0.0.1:1' });
  const a = resolver.forUrl('oss://bucket-a/x/y');
  t.equal((a.store as OssStore).endpointUrl(), 'http://127.0.0.1:1');
  t.equal(a.location.prefix, 'x/y');
  t.equal(resolver.forUrl('oss://bucket-a/other').store, a.store, 'one store (one client) per bucket');
  t.not(resolver.forUrl('oss://bucket-b/').store, a.store);
  t.throws(() => new StoreResolver({}, {}).forUrl('oss://bucket-c/x'), { name: 'MissingCredentialsError' });
});
