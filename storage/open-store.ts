/**
 * URL → adapter. One StoreResolver per process keeps one store (and one ali-oss client, with
 * its keep-alive sockets) per bucket. Settings come from config, with environment overrides:
 *   QFARM_OSS_ENDPOINT   full endpoint URL (tests: the local fake's http://127.0.0.1:PORT)
 *   QFARM_OSS_REGION     e.g. cn-hangzhou (endpoint oss-<region>[-internal].aliyuncs.com)
 *   QFARM_OSS_INTERNAL   1 → the VPC-internal endpoint
 *   QFARM_OSS_SIGNATURE  v4 → OSS4-HMAC-SHA256 (default V1)
 *   QFARM_OSS_PATH_STYLE 1 → /bucket/key URLs
 *   credentials: see oss-credentials.ts
 */
import { FileStore } from './file-store.js';
import { parseStorageUrl, StorageScheme, type ObjectStore, type StorageLocation } from './object-store.js';
import { resolveCredentials, type CredentialsConfig, type CredentialsProvider } from './oss-credentials.js';
import { OssStore, type OssStoreOptions } from './oss-store.js';

export type OssConfig = Omit<OssStoreOptions, 'bucket' | 'credentials'> & {
  /** Explicit keys / RAM role settings, or a ready provider. */
  credentials?: CredentialsConfig | CredentialsProvider;
};

export interface StorageConfig {
  oss?: OssConfig;
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v);
}

/** Config with environment overrides applied. */
export function ossConfigFromEnv(base: OssConfig = {}, env: NodeJS.ProcessEnv = process.env): OssConfig {
  const c: OssConfig = { ...base };
  if (env.QFARM_OSS_ENDPOINT) c.endpoint = env.QFARM_OSS_ENDPOINT;
  if (env.QFARM_OSS_REGION) c.region = env.QFARM_OSS_REGION;
  if (env.QFARM_OSS_INTERNAL !== undefined) c.internal = truthy(env.QFARM_OSS_INTERNAL);
  if (env.QFARM_OSS_SIGNATURE) c.authorizationV4 = env.QFARM_OSS_SIGNATURE.toLowerCase() === 'v4';
  if (env.QFARM_OSS_PATH_STYLE !== undefined) c.pathStyle = truthy(env.QFARM_OSS_PATH_STYLE);
  return c;
}

function isProvider(x: unknown): x is CredentialsProvider {
  return typeof (x as CredentialsProvider | undefined)?.get === 'function';
}

export class StoreResolver {
  private readonly stores = new Map<string, ObjectStore>();
  private readonly oss: OssConfig;
  private credentials: CredentialsProvider | undefined;

  constructor(
    config: StorageConfig = {},
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.oss = ossConfigFromEnv(config.oss ?? {}, env);
  }

  /** The store for a location's bucket (created once). */
  forLocation(loc: StorageLocation): ObjectStore {
    const id = `${loc.scheme}:${loc.bucket}`;
    let store = this.stores.get(id);
    if (!store) {
      store = loc.scheme === StorageScheme.File ? new FileStore() : this.openOss(loc.bucket);
      this.stores.set(id, store);
    }
    return store;
  }

  /** Parse a URL and return its store plus the bucket-relative key/prefix. */
  forUrl(url: string): { store: ObjectStore; location: StorageLocation } {
    const location = parseStorageUrl(url);
    return { store: this.forLocation(location), location };
  }

  private openOss(bucket: string): OssStore {
    const { credentials, ...rest } = this.oss;
    this.credentials ??= isProvider(credentials) ? credentials : resolveCredentials(credentials ?? {}, this.env);
    return new OssStore({ ...rest, bucket, credentials: this.credentials });
  }
}

/** One-off convenience: the store and bucket-relative prefix for `url`. */
export function openObjectStore(url: string, config: StorageConfig = {}): { store: ObjectStore; prefix: string } {
  const { store, location } = new StoreResolver(config).forUrl(url);
  return { store, prefix: location.prefix };
}
