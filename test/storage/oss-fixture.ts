/**
 * A real fake-OSS server on loopback plus OssStore/ali-oss clients pointed at it, for tests.
 * Not a test file itself (no `.test.ts`).
 */
import OSS from 'ali-oss';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeOssServer } from '../../fakes/oss/server.js';
import { StaticCredentials } from '../../storage/oss-credentials.js';
import { OssStore, type OssStoreOptions } from '../../storage/oss-store.js';
import { StoreResolver, type OssConfig } from '../../storage/open-store.js';

export const KEY_ID = 'LTAIqfarmTestKey01';
export const SECRET = 'S3cr3t+/Value=WithSymbols';
export const BUCKET = 'qfarm-test';

export interface OssFixture {
  server: FakeOssServer;
  tmp: string;
  store(opts?: Partial<OssStoreOptions>): OssStore;
  rawClient(opts?: Partial<OSS.Options>): OSS;
  /** A resolver for oss://BUCKET/… URLs against the fake (environment ignored). */
  resolver(opts?: OssConfig): StoreResolver;
  close(): Promise<void>;
}

export async function startOss(): Promise<OssFixture> {
  const server = await FakeOssServer.start({ keys: [{ accessKeyId: KEY_ID, accessKeySecret: SECRET }], buckets: [BUCKET] });
  const tmp = await mkdtemp(join(tmpdir(), 'qfarm-oss-test-'));
  return {
    server,
    tmp,
    store: (opts = {}) =>
      new OssStore({
        bucket: BUCKET,
        endpoint: server.url,
        credentials: new StaticCredentials({ accessKeyId: KEY_ID, accessKeySecret: SECRET }, 'test'),
        retry: { maximumAttempts: 5, initialIntervalMs: 5, maximumIntervalMs: 50 },
        checkpointDir: join(tmp, 'checkpoints'),
        ...opts,
      }),
    resolver: (opts = {}) =>
      new StoreResolver(
        {
          oss: {
            endpoint: server.url,
            credentials: new StaticCredentials({ accessKeyId: KEY_ID, accessKeySecret: SECRET }, 'test'),
            retry: { maximumAttempts: 5, initialIntervalMs: 5, maximumIntervalMs: 50 },
            checkpointDir: join(tmp, 'checkpoints'),
            ...opts,
          },
        },
        {},
      ),
    rawClient: (opts = {}) =>
      new OSS({ endpoint: server.url, accessKeyId: KEY_ID, accessKeySecret: SECRET, bucket: BUCKET, ...opts }),
    close: async () => {
      await server.close();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

export async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
