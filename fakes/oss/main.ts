/**
 * Standalone fake OSS:
 *   node dist/fakes/oss/main.js --port 0 --dir DIR --key id:secret[:stsToken] [--bucket b]...
 *     [--auto-create-buckets] [--fault kind=status,status=503,op=PutObject,times=2]... [--skew-ms N]
 * Prints `QFARM_FAKE_OSS_URL=http://127.0.0.1:PORT` on stdout once listening; stops on SIGINT/SIGTERM.
 * Env fallbacks: QFARM_FAKE_OSS_KEYS (comma-separated id:secret), QFARM_FAKE_OSS_FAULTS
 * (';'-separated fault specs), QFARM_FAKE_OSS_SKEW_MS.
 */
import { parseArgs } from 'node:util';
import { parseFaultSpec } from './faults.js';
import { FakeOssServer } from './server.js';
import type { FakeOssKey } from './signature.js';

function parseKey(text: string): FakeOssKey {
  const [accessKeyId, accessKeySecret, securityToken] = text.split(':');
  if (!accessKeyId || !accessKeySecret) throw new Error(`--key "${text.split(':')[0]}:…": expected id:secret[:token]`);
  const key: FakeOssKey = { accessKeyId, accessKeySecret };
  if (securityToken) key.securityToken = securityToken;
  return key;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      dir: { type: 'string' },
      key: { type: 'string', multiple: true, default: [] },
      bucket: { type: 'string', multiple: true, default: [] },
      'auto-create-buckets': { type: 'boolean', default: false },
      fault: { type: 'string', multiple: true, default: [] },
      'skew-ms': { type: 'string' },
      region: { type: 'string', default: 'cn-hangzhou' },
    },
  });
  const keyTexts = [...values.key, ...(process.env.QFARM_FAKE_OSS_KEYS?.split(',').filter(Boolean) ?? [])];
  if (keyTexts.length === 0) throw new Error('no keys: pass --key id:secret (or QFARM_FAKE_OSS_KEYS)');
  const faults = [...values.fault, ...(process.env.QFARM_FAKE_OSS_FAULTS?.split(';').filter(Boolean) ?? [])].map(
    parseFaultSpec,
  );
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${values.port}: not a port number`);
  const server = await FakeOssServer.start({
    host: values.host,
    port,
    ...(values.dir ? { dir: values.dir } : {}),
    keys: keyTexts.map(parseKey),
    buckets: values.bucket.length ? values.bucket : ['qfarm'],
    autoCreateBuckets: values['auto-create-buckets'],
    region: values.region,
  });
  for (const f of faults) server.faults.add(f);
  const skew = values['skew-ms'] ?? process.env.QFARM_FAKE_OSS_SKEW_MS;
  if (skew) server.clockSkewMs = Number(skew);
  process.stdout.write(`QFARM_FAKE_OSS_URL=${server.url}\n`);
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: Error) => {
  process.stderr.write(`fake-oss: ${err.message}\n`);
  process.exit(2);
});
