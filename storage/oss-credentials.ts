/**
 * Where OSS credentials come from, in order: explicit config, the standard Alibaba environment
 * variables, or the ECS instance's RAM role via the metadata server. Secrets are held in memory
 * only and never appear in logs or errors (only the AccessKeyId does).
 */
import { StorageError } from './errors.js';

export interface OssCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
  /** When temporary (STS) credentials stop working. */
  expiration?: Date;
}

export interface CredentialsProvider {
  /** Current credentials; refreshed transparently when temporary ones near expiry. */
  get(): Promise<OssCredentials>;
  /** Where they come from, for messages ("environment", "RAM role qfarm-worker"); never a secret. */
  readonly source: string;
}

export class MissingCredentialsError extends StorageError {
  constructor(detail: string) {
    super(
      `no OSS credentials: ${detail}. Set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET ` +
        `(plus ALIBABA_CLOUD_SECURITY_TOKEN for STS), or run on ECS with a RAM role (QFARM_OSS_RAM_ROLE=<role> or "auto")`,
    );
  }
}

export class StaticCredentials implements CredentialsProvider {
  constructor(
    private readonly creds: OssCredentials,
    readonly source: string,
  ) {}
  async get(): Promise<OssCredentials> {
    return this.creds;
  }
}

/** ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / ALIBABA_CLOUD_SECURITY_TOKEN, when both key parts are set. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): OssCredentials | undefined {
  const accessKeyId = env.ALIBABA_CLOUD_ACCESS_KEY_ID?.trim();
  const accessKeySecret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET?.trim();
  if (!accessKeyId && !accessKeySecret) return undefined;
  if (!accessKeyId || !accessKeySecret) {
    throw new MissingCredentialsError(
      `only one of ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET is set (${accessKeyId ? 'the secret' : 'the id'} is missing)`,
    );
  }
  const creds: OssCredentials = { accessKeyId, accessKeySecret };
  const token = env.ALIBABA_CLOUD_SECURITY_TOKEN?.trim();
  if (token) creds.securityToken = token;
  return creds;
}

export interface EcsRamRoleOptions {
  /** Role name; discovered from the metadata server when absent. */
  roleName?: string;
  /** Metadata server base URL. @default http://100.100.100.200 (env QFARM_ECS_METADATA_URL) */
  metadataUrl?: string;
  /** Per-request timeout. @default 3000 */
  timeoutMs?: number;
  /** Refresh this long before Expiration. @default 300000 (5 min) */
  refreshBeforeMs?: number;
}

/**
 * STS credentials of the instance's RAM role, from the ECS metadata server, using the
 * security-hardened (token) mode when the server offers it and plain GETs when it does not.
 */
export class EcsRamRoleCredentials implements CredentialsProvider {
  private cached: OssCredentials | undefined;
  private inflight: Promise<OssCredentials> | undefined;
  private readonly base: string;

  constructor(private readonly opts: EcsRamRoleOptions = {}) {
    this.base = (opts.metadataUrl ?? process.env.QFARM_ECS_METADATA_URL ?? 'http://100.100.100.200').replace(/\/+$/, '');
  }

  get source(): string {
    return `ECS RAM role ${this.opts.roleName ?? '(discovered)'} via ${this.base}`;
  }

  async get(): Promise<OssCredentials> {
    const c = this.cached;
    const margin = this.opts.refreshBeforeMs ?? 300_000;
    if (c && (!c.expiration || c.expiration.getTime() - margin > Date.now())) return c;
    // Single-flight: concurrent callers share one refresh.
    this.inflight ??= this.fetchCredentials().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(this.base + path, { ...init, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 3000) });
    } catch (err) {
      throw new MissingCredentialsError(`the ECS metadata server ${this.base} did not answer ${path} (${(err as Error).message})`);
    }
  }

  private async fetchCredentials(): Promise<OssCredentials> {
    const headers: Record<string, string> = {};
    const tokenRes = await this.request('/latest/api/token', {
      method: 'PUT',
      headers: { 'X-aliyun-ecs-metadata-token-ttl-seconds': '21600' },
    });
    if (tokenRes.ok) headers['X-aliyun-ecs-metadata-token'] = (await tokenRes.text()).trim();
    else await tokenRes.body?.cancel();
    let role = this.opts.roleName;
    if (!role) {
      const r = await this.request('/latest/meta-data/ram/security-credentials/', { headers });
      if (!r.ok) throw new MissingCredentialsError(`this instance has no RAM role (metadata answered HTTP ${r.status})`);
      role = (await r.text()).split('\n')[0]?.trim();
      if (!role) throw new MissingCredentialsError('this instance has no RAM role attached');
    }
    const r = await this.request(`/latest/meta-data/ram/security-credentials/${encodeURIComponent(role)}`, { headers });
    if (!r.ok) throw new MissingCredentialsError(`RAM role "${role}" credentials: metadata answered HTTP ${r.status}`);
    const body = (await r.json()) as Record<string, string>;
    if (body.Code && body.Code !== 'Success') throw new MissingCredentialsError(`RAM role "${role}" credentials: ${body.Code}`);
    if (!body.AccessKeyId || !body.AccessKeySecret || !body.SecurityToken) {
      throw new MissingCredentialsError(`RAM role "${role}" credentials are incomplete`);
    }
    const creds: OssCredentials = {
      accessKeyId: body.AccessKeyId,
      accessKeySecret: body.AccessKeySecret,
      securityToken: body.SecurityToken,
    };
    if (body.Expiration) creds.expiration = new Date(body.Expiration);
    this.cached = creds;
    return creds;
  }
}

export interface CredentialsConfig {
  accessKeyId?: string;
  accessKeySecret?: string;
  securityToken?: string;
  /** Use the ECS RAM role: a role name, or "auto" to discover it. Env QFARM_OSS_RAM_ROLE. */
  ramRole?: string;
  /** Metadata server base URL (tests point it at a local fake). Env QFARM_ECS_METADATA_URL. */
  metadataUrl?: string;
}

/** Config keys, then environment, then RAM role (only when asked for, so non-ECS hosts never wait on 100.100.100.200). */
export function resolveCredentials(config: CredentialsConfig = {}, env: NodeJS.ProcessEnv = process.env): CredentialsProvider {
  if (config.accessKeyId || config.accessKeySecret) {
    if (!config.accessKeyId || !config.accessKeySecret) {
      throw new MissingCredentialsError('the config sets only one of accessKeyId and accessKeySecret');
    }
    const creds: OssCredentials = { accessKeyId: config.accessKeyId, accessKeySecret: config.accessKeySecret };
    if (config.securityToken) creds.securityToken = config.securityToken;
    return new StaticCredentials(creds, 'config');
  }
  const fromEnv = credentialsFromEnv(env);
  if (fromEnv) return new StaticCredentials(fromEnv, 'environment');
  const role = config.ramRole ?? env.QFARM_OSS_RAM_ROLE ?? env.ALIBABA_CLOUD_ECS_METADATA;
  if (role) {
    const opts: EcsRamRoleOptions = {};
    if (role !== 'auto') opts.roleName = role;
    const url = config.metadataUrl ?? env.QFARM_ECS_METADATA_URL;
    if (url) opts.metadataUrl = url;
    return new EcsRamRoleCredentials(opts);
  }
  throw new MissingCredentialsError('none in config or environment, and no RAM role configured');
}
