import { parseArgs } from 'node:util';
import { FakeAlibaba } from './server.js';

/**
 * Standalone fake Alibaba Cloud (ECS RPC + BatchCompute ROA + instance metadata) for demos and
 * end-to-end tests: `node dist/fakes/alibaba/main.js --port 0`. Prints one JSON line with the URL.
 * Keys come from --key ID:SECRET (repeatable) or FAKE_ALIBABA_KEYS="id:secret,id2:secret2".
 */
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    key: { type: 'string', multiple: true },
    'known-image': { type: 'string', multiple: true },
    'no-stock': { type: 'string', multiple: true },
    quota: { type: 'string' },
    cluster: { type: 'string', multiple: true },
  },
});

const keyPairs = [...(values.key ?? []), ...(process.env.FAKE_ALIBABA_KEYS?.split(',').filter(Boolean) ?? [])];
const accessKeys = keyPairs.length
  ? Object.fromEntries(
      keyPairs.map((kv) => {
        const i = kv.indexOf(':');
        if (i <= 0) throw new Error(`--key wants ID:SECRET, got "${kv.slice(0, kv.indexOf(':') < 0 ? 8 : kv.indexOf(':'))}…"`);
        return [kv.slice(0, i), kv.slice(i + 1)];
      }),
    )
  : undefined;

const fake = new FakeAlibaba({
  ...(accessKeys ? { accessKeys } : {}),
  ecs: {
    ...(values['known-image'] ? { knownImages: values['known-image'] } : {}),
    ...(values['no-stock'] ? { noStockTypes: values['no-stock'] } : {}),
    ...(values.quota ? { quota: Number(values.quota) } : {}),
  },
});
const clusters: Record<string, string> = {};
for (const spec of values.cluster ?? []) {
  // --cluster NAME:GROUP=TYPE
  const [name, group] = spec.split(':');
  const [groupName, type] = (group ?? 'group1=ecs.sn1ne.large').split('=');
  clusters[name!] = fake.batchCompute.addCluster(name!, { [groupName!]: { instanceType: type ?? 'ecs.sn1ne.large' } });
}
const url = await fake.listen(Number(values.port), values.host);
process.stdout.write(JSON.stringify({ url, ecsEndpoint: url, batchComputeEndpoint: url, metadata: `${url}/metadata/<instance-id>`, clusters, keys: Object.keys(accessKeys ?? { 'qfarm-test-key': '' }) }) + '\n');
const stop = (): void => void fake.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
