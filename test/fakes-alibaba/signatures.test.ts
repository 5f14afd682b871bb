import t from 'tap';
import { createRequire } from 'node:module';
import { md5Base64, parseEncodedPairs, percentEncode, roaSignature, roaStringToSign, rpcSignature, rpcStringToSign } from '../../fakes/alibaba/signatures.js';
import { FakeAlibaba } from '../../fakes/alibaba/server.js';

const popCore = createRequire(import.meta.url)('@alicloud/pop-core') as {
  RPCClient: new (c: object) => { request(a: string, p: object, o?: object): Promise<Record<string, unknown>> };
  ROAClient: new (c: object) => { request(m: string, p: string, q: object, b: string, h: object, o?: object): Promise<unknown> };
};

t.test('RPC: the documented ECS example signs to the documented signature', async (t) => {
  // Alibaba's ECS "signature mechanism" example (AK testid / SK testsecret, DescribeRegions).
  const params = {
    AccessKeyId: 'testid',
    Action: 'DescribeRegions',
    Format: 'XML',
    SignatureMethod: 'HMAC-SHA1',
    SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf',
    SignatureVersion: '1.0',
    Timestamp: '2016-02-23T12:46:24Z',
    Version: '2014-05-26',
  };
  const sts = rpcStringToSign('GET', params);
  t.equal(sts, 'GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26');
  t.equal(rpcSignature('testsecret', sts), 'OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
  t.equal(percentEncode("a b*c~d!'()"), 'a%20b%2Ac~d%21%27%28%29');
  t.same(parseEncodedPairs('A=1&B=a%20b&C='), { A: '1', B: 'a b', C: '' });
});

t.test('ROA: the string to sign follows the documented layout', async (t) => {
  const sts = roaStringToSign('PUT', '/clusters/cls-1', { b: '2', a: '1' }, {
    accept: 'application/json',
    'content-md5': md5Base64(Buffer.from('{}')),
    'content-type': 'application/json',
    date: 'Mon, 23 Nov 2026 10:00:00 GMT',
    'x-acs-version': '2015-11-11',
    'x-acs-signature-nonce': 'n1',
    host: 'ignored',
  });
  t.equal(sts, `PUT\napplication/json\nmZFLkyvTelC5g8XnyQrpOw==\napplication/json\nMon, 23 Nov 2026 10:00:00 GMT\nx-acs-signature-nonce:n1\nx-acs-version:2015-11-11\n/clusters/cls-1?a=1&b=2`);
  t.equal(roaSignature('k', 'x'), 'ywATH87GAqj8hEE6KnAVTYwGoNI=', 'same as openssl dgst -sha1 -hmac k');
});

t.test('the fake refuses what Alibaba refuses, in Alibaba\'s JSON error shape', async (t) => {
  const fake = new FakeAlibaba({ accessKeys: { good: 'secret' } });
  await fake.listen();
  t.teardown(() => fake.close());
  const rpc = (id: string, secret: string) => new popCore.RPCClient({ endpoint: fake.url, apiVersion: '2014-05-26', accessKeyId: id, accessKeySecret: secret });

  const ok = await rpc('good', 'secret').request('DescribeInstances', { RegionId: 'cn-hangzhou' }, { method: 'GET' });
  t.equal(ok.TotalCount, 0);

  const bad = await rpc('good', 'wrong').request('DescribeInstances', { RegionId: 'cn-hangzhou' }, { method: 'POST' }).catch((e: { data: Record<string, string> }) => e.data);
  t.same(Object.keys(bad).sort(), ['Code', 'HostId', 'Message', 'Recommend', 'RequestId']);
  t.equal(bad.Code, 'SignatureDoesNotMatch');
  t.match(bad.Message, /server string to sign is:POST&%2F&/);

  const unknown = await rpc('nobody', 'secret').request('DescribeInstances', { RegionId: 'x' }).catch((e: { data: Record<string, string> }) => e.data);
  t.equal(unknown.Code, 'InvalidAccessKeyId.NotFound');

  const raw = await fetch(`${fake.url}/?Action=DescribeInstances&RegionId=x`);
  t.equal(raw.status, 400);
  t.equal(((await raw.json()) as { Code: string }).Code, 'IncompleteSignature');

  // A replayed request (same nonce) is refused.
  const first = await fetch(`${fake.url}/?${signedQuery('good', 'secret', 'nonce-1')}`);
  t.equal(first.status, 200);
  const replay = await fetch(`${fake.url}/?${signedQuery('good', 'secret', 'nonce-1')}`);
  t.equal(((await replay.json()) as { Code: string }).Code, 'SignatureNonceUsed');

  // ROA: signature, then Content-MD5.
  const roa = new popCore.ROAClient({ endpoint: fake.url, apiVersion: '2015-11-11', accessKeyId: 'good', accessKeySecret: 'secret' });
  const cls = fake.batchCompute.addCluster('c', { group1: { instanceType: 't', desired: 1 } });
  const got = (await roa.request('GET', `/clusters/${cls}`, {}, '', {})) as { Groups: Record<string, { ActualVMCount: number }> };
  t.equal(got.Groups.group1!.ActualVMCount, 1);
  const wrongRoa = new popCore.ROAClient({ endpoint: fake.url, apiVersion: '2015-11-11', accessKeyId: 'good', accessKeySecret: 'nope' });
  const e = await wrongRoa.request('GET', `/clusters/${cls}`, {}, '', {}).catch((err: { statusCode: number; code: string }) => err);
  t.equal((e as { statusCode: number }).statusCode, 403);
  t.equal((e as { code: string }).code, 'SignatureDoesNotMatch');
  // A body that does not match its (correctly signed) Content-MD5.
  const headers: Record<string, string> = {
    accept: 'application/json',
    'content-md5': md5Base64(Buffer.from('{"Groups":{}}')),
    'content-type': 'application/json',
    date: new Date().toUTCString(),
    'x-acs-version': '2015-11-11',
  };
  headers.authorization = `acs good:${roaSignature('secret', roaStringToSign('PUT', `/clusters/${cls}`, {}, headers))}`;
  const md5 = await fetch(`${fake.url}/clusters/${cls}`, { method: 'PUT', headers, body: '{"Groups":{"group1":{"DesiredVMCount":2}}}' });
  t.equal(((await md5.json()) as { Code: string }).Code, 'InvalidDigest');
});

t.test('DescribeInstances pages by PageNumber/PageSize as well as NextToken', async (t) => {
  const fake = new FakeAlibaba();
  for (let i = 0; i < 5; i++) fake.ecs.handle('RunInstances', { RegionId: 'r', InstanceType: 't', ImageId: 'm' });
  const page = (p: Record<string, string>) => fake.ecs.handle('DescribeInstances', { RegionId: 'r', ...p }) as { Instances: { Instance: unknown[] }; TotalCount: number; NextToken?: string };
  t.equal(page({ PageSize: '2', PageNumber: '3' }).Instances.Instance.length, 1);
  t.equal(page({ PageSize: '2' }).TotalCount, 5);
  const p1 = page({ MaxResults: '4' });
  t.equal(p1.Instances.Instance.length, 4);
  const p2 = page({ MaxResults: '4', NextToken: p1.NextToken! });
  t.equal(p2.Instances.Instance.length, 1);
  t.equal(p2.NextToken, '');
  t.throws(() => page({ MaxResults: '101' }), { code: 'InvalidParameter.MaxResults' });
});

function signedQuery(id: string, secret: string, nonce: string): string {
  const params: Record<string, string> = {
    AccessKeyId: id,
    Action: 'DescribeInstances',
    Format: 'JSON',
    RegionId: 'cn-hangzhou',
    SignatureMethod: 'HMAC-SHA1',
    SignatureNonce: nonce,
    SignatureVersion: '1.0',
    Timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    Version: '2014-05-26',
  };
  params.Signature = rpcSignature(secret, rpcStringToSign('GET', params));
  return Object.entries(params).map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`).join('&');
}
