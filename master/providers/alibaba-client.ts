import { createRequire } from 'node:module';
import { AlibabaCredentials } from './alibaba-credentials.js';
import { isRetryableAlibabaError, mapAlibabaError } from './alibaba-error-map.js';
import { ProviderError, ProviderUnavailableError } from './errors.js';
import { retry, RetriesExhaustedError } from '../../retry/retry.js';
import { compileRetryPolicy, type CompiledRetryPolicy, type RetryPolicy } from '../../retry/retry-policy.js';
import { silentLogger, type ProviderLogger } from './provider.js';

/**
 * Thin wrappers over @alicloud/pop-core's RPC (ECS) and ROA (BatchCompute) clients that add what
 * pop-core lacks: a sane timeout (its default is 3 s), retries with backoff for throttling,
 * 5xx and network errors (never for client errors), and errors mapped to named classes.
 */

// pop-core is CommonJS and ships types for RPCClient only; these are the parts we call.
interface PopCredentialsProvider {
  getCredentials(): Promise<{ accessKeyId: string; accessKeySecret: string; securityToken?: string }>;
}
interface PopRpcClient {
  request(action: string, params: Record<string, unknown>, opts?: Record<string, unknown>): Promise<unknown>;
}
interface PopRoaClient {
  request(method: string, path: string, query: Record<string, unknown>, body: string, headers: Record<string, string>, opts?: Record<string, unknown>): Promise<unknown>;
}
type PopCtor<T> = new (config: { endpoint: string; apiVersion: string; credentialsProvider: PopCredentialsProvider }) => T;
const popCore = createRequire(import.meta.url)('@alicloud/pop-core') as { RPCClient: PopCtor<PopRpcClient>; ROAClient: PopCtor<PopRoaClient> };

export interface AlibabaClientOptions {
  endpoint: string;
  apiVersion: string;
  credentials: AlibabaCredentials;
  /** Per request (connect and read). @default 15000 */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Names the provider in errors ('ecs', 'batchcompute'). */
  provider: string;
  logger?: ProviderLogger;
}

abstract class AlibabaClientBase {
  protected readonly timeoutMs: number;
  protected readonly retryPolicy: CompiledRetryPolicy;
  protected readonly credentials: AlibabaCredentials;
  protected readonly provider: string;
  protected readonly logger: ProviderLogger;
  readonly endpoint: string;

  constructor(options: AlibabaClientOptions) {
    if (!/^https?:\/\//.test(options.endpoint)) {
      throw new ProviderError(`endpoint "${options.endpoint}" must start with http:// or https://`, { provider: options.provider });
    }
    this.endpoint = options.endpoint.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.retryPolicy = compileRetryPolicy(options.retry);
    this.credentials = options.credentials;
    this.provider = options.provider;
    this.logger = options.logger ?? silentLogger;
  }

  protected credentialsProvider(): PopCredentialsProvider {
    const creds = this.credentials;
    return { getCredentials: async () => creds.reveal() };
  }

  /** Runs one logical call with retries; what escapes is always a ProviderError. */
  protected async call<T>(what: string, group: string | undefined, fn: () => Promise<T>): Promise<T> {
    const fields = { provider: this.provider, group };
    try {
      return await retry(fn, this.retryPolicy, {
        operation: `${this.provider} ${what}`,
        isRetryable: isRetryableAlibabaError,
        onRetry: (err, attempt, delayMs) => {
          const mapped = mapAlibabaError(err, fields);
          this.logger.warn(`${this.provider} ${what} failed, retrying`, { attempt, delayMs, code: mapped.code, error: mapped.message });
        },
      });
    } catch (err) {
      if (err instanceof RetriesExhaustedError) {
        const last = mapAlibabaError(err.lastError, fields, this.credentials.accessKeyId);
        throw new ProviderUnavailableError(`${what}: ${last.message}`, { ...fields, code: last.code, requestId: last.requestId }, err.attempts);
      }
      throw mapAlibabaError(err, fields, this.credentials.accessKeyId);
    }
  }
}

/** ECS-style RPC API (Action=…, signed query or form body). */
export class AlibabaRpcClient extends AlibabaClientBase {
  readonly #client: PopRpcClient;
  constructor(options: AlibabaClientOptions) {
    super(options);
    this.#client = new popCore.RPCClient({ endpoint: this.endpoint, apiVersion: options.apiVersion, credentialsProvider: this.credentialsProvider() });
  }

  /**
   * Calls `action`. POST keeps large parameters (UserData) out of the URL. The same params go out
   * on every retry, so a ClientToken in them makes retries idempotent.
   */
  request<T>(action: string, params: Record<string, unknown>, options: { method?: 'GET' | 'POST'; group?: string } = {}): Promise<T> {
    const method = options.method ?? 'POST';
    return this.call(action, options.group, () =>
      this.#client.request(action, params, { method, timeout: this.timeoutMs, formatParams: false }) as Promise<T>,
    );
  }
}

/** ROA API (REST paths, `Authorization: acs AK:sig`), as BatchCompute speaks it. */
export class AlibabaRoaClient extends AlibabaClientBase {
  readonly #client: PopRoaClient;
  constructor(options: AlibabaClientOptions) {
    super(options);
    this.#client = new popCore.ROAClient({ endpoint: this.endpoint, apiVersion: options.apiVersion, credentialsProvider: this.credentialsProvider() });
  }

  request<T>(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, options: { query?: Record<string, string | number>; body?: unknown; group?: string } = {}): Promise<T> {
    const body = options.body === undefined ? '' : JSON.stringify(options.body);
    // pop-core never sets Content-Type itself; BatchCompute bodies are JSON.
    const headers: Record<string, string> = body ? { 'content-type': 'application/json' } : {};
    // Empty query values are signed differently by different clients: never send them.
    const query = Object.fromEntries(Object.entries(options.query ?? {}).filter(([, v]) => v !== '' && v !== undefined));
    return this.call(`${method} ${path}`, options.group, async () => {
      const result = await this.#client.request(method, path, query, body, headers, { timeout: this.timeoutMs });
      // pop-core returns the raw text, without throwing, for non-JSON answers even on 4xx/5xx.
      if (typeof result === 'string') {
        if (result === '' && method === 'DELETE') return {} as T;
        const err = new Error(`non-JSON answer from ${this.provider}: ${result.slice(0, 120)}`);
        err.name = 'FormatError';
        throw err;
      }
      return result as T;
    });
  }
}

/** `QFARM_ECS_ENDPOINT` overrides the regional endpoint (tests point it at the local fake). */
export function ecsEndpoint(regionId: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.QFARM_ECS_ENDPOINT || `https://ecs.${regionId}.aliyuncs.com`;
}

export function batchComputeEndpoint(regionId: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (env.QFARM_BATCHCOMPUTE_ENDPOINT) return env.QFARM_BATCHCOMPUTE_ENDPOINT;
  if (!regionId) throw new ProviderError('BatchCompute needs batchcompute.regionId or QFARM_BATCHCOMPUTE_ENDPOINT', { provider: 'batchcompute' });
  return `https://batchcompute.${regionId}.aliyuncs.com`;
}
