import {
  InvalidImageError,
  ProviderAuthError,
  ProviderError,
  ProviderRequestError,
  QuotaExceededError,
  StockOutError,
  type ProviderErrorFields,
} from './errors.js';

/**
 * One place that turns what pop-core throws into our named errors. pop-core (RPC) throws when the
 * JSON body has a `Code`, with `err.data` = the body; the ROA client throws for status ≥ 400 with
 * `err.result` = the body and `err.statusCode`. Network failures carry Node's `err.code`.
 */

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ECONNABORTED']);

const RETRYABLE_API_CODES = new Set(['ServiceUnavailable', 'InternalError', 'UnknownError', 'RequestTimeout', 'ServiceTimeout', 'OperationConflict', 'LastTokenProcessing']);

const AUTH_CODES = [
  /^InvalidAccessKeyId/,
  /^SignatureDoesNotMatch$/,
  /^IncompleteSignature$/,
  /^SignatureNonceUsed$/,
  /^InvalidSecurityToken/,
  /^InvalidAccountStatus/,
  /^Forbidden/,
  /^NoPermission/,
  /^InsufficientBalance$/,
  /^Account\./,
  /^InvalidTimeStamp/,
];
const QUOTA_CODES = [/^QuotaExceed/, /^QuotaExceeded/, /QuotaExceed/];
const STOCK_CODES = [/NoStock/, /^Zone\.NotOnSale/, /^ResourceNotAvailable/, /^InvalidInstanceType\.ZoneNotOnSale/, /^InvalidResourceType\.NotSupported/];
const IMAGE_CODES = [/^InvalidImageId/, /^ImageNotSupportInstanceType/, /^ImageNotSubscribed/, /^InvalidImage\b/, /^InvalidImage\./];

export interface RawAlibabaError {
  code?: unknown;
  name?: unknown;
  message?: unknown;
  statusCode?: unknown;
  data?: { Code?: string; Message?: string; RequestId?: string };
  result?: { Code?: string; Message?: string; RequestId?: string };
}

export interface ClassifiedError {
  apiCode: string | undefined;
  message: string;
  requestId: string | undefined;
  statusCode: number | undefined;
  retryable: boolean;
}

/** Reads the code, message and request id out of whatever pop-core or Node threw. */
export function classifyAlibabaError(err: unknown): ClassifiedError {
  const e = (err ?? {}) as RawAlibabaError;
  const body = e.data ?? e.result;
  const statusCode = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const apiCode = body?.Code ?? (typeof e.code === 'string' && !NETWORK_CODES.has(e.code) ? e.code : undefined);
  const name = typeof e.name === 'string' ? e.name : '';
  const nodeCode = typeof e.code === 'string' ? e.code : '';
  // pop-core's err.message for RPC embeds the full URL (with SecurityToken under STS): use the body's Message.
  const message = body?.Message ?? (NETWORK_CODES.has(nodeCode) ? nodeCode : safeMessage(e));
  let retryable = false;
  if (NETWORK_CODES.has(nodeCode)) retryable = true;
  else if (name.endsWith('RequestTimeoutError') || name === 'RequestTimeoutError') retryable = true;
  // A non-JSON answer (an HTML 502 from a proxy) makes pop-core's JSON.parse throw.
  else if (name === 'SyntaxError' || name === 'FormatError') retryable = true;
  else if (apiCode && (/^Throttling/.test(apiCode) || RETRYABLE_API_CODES.has(apiCode))) retryable = true;
  else if (statusCode !== undefined && statusCode >= 500) retryable = true;
  return { apiCode, message, requestId: body?.RequestId, statusCode, retryable };
}

function safeMessage(e: RawAlibabaError): string {
  const m = typeof e.message === 'string' ? e.message : String(e);
  // Drop anything after ", URL: " (pop-core appends the signed URL).
  return m.replace(/,? URL: .*$/s, '').slice(0, 500);
}

export function isRetryableAlibabaError(err: unknown): boolean {
  if (err instanceof ProviderError) return err.retryable;
  return classifyAlibabaError(err).retryable;
}

/** Maps an error to the named class a person can act on. `accessKeyId` is named in auth errors, never the secret. */
export function mapAlibabaError(err: unknown, fields: ProviderErrorFields, accessKeyId?: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const c = classifyAlibabaError(err);
  const f: ProviderErrorFields = { ...fields, code: c.apiCode, requestId: c.requestId };
  const code = c.apiCode ?? '';
  if (AUTH_CODES.some((r) => r.test(code))) {
    return new ProviderAuthError(`${c.message}${accessKeyId ? ` (access key id ${accessKeyId})` : ''}`, f);
  }
  if (STOCK_CODES.some((r) => r.test(code))) return new StockOutError(c.message, f);
  if (QUOTA_CODES.some((r) => r.test(code))) return new QuotaExceededError(c.message, f);
  if (IMAGE_CODES.some((r) => r.test(code))) return new InvalidImageError(c.message, f);
  if (c.retryable) return new ProviderError(c.message, f, true);
  return new ProviderRequestError(c.message, f);
}
