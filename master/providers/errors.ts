/**
 * Errors a provider raises, one class per thing a person can act on. Messages name the group,
 * the provider's error code and what to do; they never contain credentials.
 */

export interface ProviderErrorFields {
  group?: string;
  provider: string;
  /** The cloud's error code (e.g. `QuotaExceed.ElasticQuota`), when there is one. */
  code?: string;
  requestId?: string;
}

export class ProviderError extends Error {
  readonly group: string | undefined;
  readonly provider: string;
  readonly code: string | undefined;
  readonly requestId: string | undefined;
  /** True when the same call may succeed if repeated later (throttling, 5xx, network). */
  readonly retryable: boolean;
  constructor(message: string, fields: ProviderErrorFields, retryable = false) {
    super(message);
    this.name = 'ProviderError';
    this.group = fields.group;
    this.provider = fields.provider;
    this.code = fields.code;
    this.requestId = fields.requestId;
    this.retryable = retryable;
  }
}

function where(f: ProviderErrorFields): string {
  const bits = [f.provider, f.group ? `group ${f.group}` : undefined, f.code, f.requestId ? `request ${f.requestId}` : undefined];
  return bits.filter(Boolean).join(', ');
}

export class QuotaExceededError extends ProviderError {
  constructor(detail: string, fields: ProviderErrorFields) {
    super(
      `quota exhausted (${where(fields)}): ${detail}. Raise the quota in the cloud console (vCPU or instance quota), ` +
        `lower the group's maxSize, or use another instance type.`,
      fields,
    );
    this.name = 'QuotaExceededError';
  }
}

export class StockOutError extends ProviderError {
  constructor(detail: string, fields: ProviderErrorFields) {
    super(
      `no stock for this instance type in this zone (${where(fields)}): ${detail}. Add fallback instanceTypes, ` +
        `use another zone/vSwitch, or retry later.`,
      fields,
    );
    this.name = 'StockOutError';
  }
}

export class InvalidImageError extends ProviderError {
  constructor(detail: string, fields: ProviderErrorFields) {
    super(
      `the worker image is not usable (${where(fields)}): ${detail}. Check the group's image id exists in this region ` +
        `and is shared with this account (rebuild it with images/qfarm-worker.pkr.hcl).`,
      fields,
    );
    this.name = 'InvalidImageError';
  }
}

export class ProviderAuthError extends ProviderError {
  constructor(detail: string, fields: ProviderErrorFields) {
    super(
      `the cloud refused our credentials (${where(fields)}): ${detail}. Check ALIBABA_CLOUD_ACCESS_KEY_ID / ` +
        `ALIBABA_CLOUD_ACCESS_KEY_SECRET (and the RAM policy, account balance and status).`,
      fields,
    );
    this.name = 'ProviderAuthError';
  }
}

/** Throttling, 5xx, reset connections, timeouts: retried with backoff; thrown when retries run out. */
export class ProviderUnavailableError extends ProviderError {
  constructor(detail: string, fields: ProviderErrorFields, readonly attempts: number) {
    super(`the cloud API is unavailable after ${attempts} attempts (${where(fields)}): ${detail}. It will be retried on the next autoscaler pass.`, fields, true);
    this.name = 'ProviderUnavailableError';
  }
}

/** Any other refusal (bad parameter, wrong state): a bug or a misconfigured group; not retried. */
export class ProviderRequestError extends ProviderError {
  constructor(detail: string, fields: ProviderErrorFields) {
    super(`the cloud rejected the request (${where(fields)}): ${detail}`, fields);
    this.name = 'ProviderRequestError';
  }
}

/** Missing credentials or settings detected before any call is made. */
export class ProviderConfigError extends ProviderError {
  constructor(detail: string, fields: ProviderErrorFields) {
    super(`provider not configured (${where(fields)}): ${detail}`, fields);
    this.name = 'ProviderConfigError';
  }
}
