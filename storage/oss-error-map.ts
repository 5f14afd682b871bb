/**
 * ali-oss's errors turned into ours (storage/errors.ts): named for what went wrong, naming the
 * bucket, key and AccessKeyId (never the secret), saying what to do, and marked retryable only
 * when another try may succeed (network, 5xx, timeouts, data corrupted in transit).
 */
import { ObjectNotFoundError, OssAuthError, OssRequestError, StorageError } from './errors.js';

/** ali-oss's names for network failures (no HTTP status). */
const NETWORK_NAMES = new Set([
  'ConnectionTimeoutError',
  'ResponseTimeoutError',
  'RequestError',
  'ResponseError',
  'SocketAssignTimeoutError',
  'ConnectionResetError',
]);

/** ali-oss's error object, as far as we read it. */
export interface AliOssError extends Error {
  status?: number;
  code?: string;
  requestId?: string;
}

export function isAliOssError(err: unknown): err is AliOssError {
  return err instanceof Error && ('status' in err || 'code' in err || NETWORK_NAMES.has(err.name));
}

/** What a mapped error names: never a secret. */
export interface OssErrorSubject {
  bucket: string;
  /** The object (or the bucket's oss:// URL for bucket-wide calls). */
  url: string;
  accessKeyId: string;
  endpointUrl: string;
}

/** One of our errors for anything an OSS call threw; ours pass through unchanged. */
export function mapOssError(err: unknown, operation: string, where: OssErrorSubject): Error {
  if (err instanceof StorageError) return err;
  if (!isAliOssError(err)) return err instanceof Error ? err : new Error(String(err));
  const code = err.code ?? err.name.replace(/Error$/, '');
  const status = err.status ?? (NETWORK_NAMES.has(err.name) ? -2 : 0);
  const id = where.accessKeyId;
  const requestId = err.requestId;
  switch (code) {
    case 'SignatureDoesNotMatch':
      return new OssAuthError(
        `OSS rejected the signature for bucket "${where.bucket}" with AccessKeyId "${id}": check ALIBABA_CLOUD_ACCESS_KEY_SECRET (SignatureDoesNotMatch)`,
        where.bucket, id, code, requestId,
      );
    case 'InvalidAccessKeyId':
      return new OssAuthError(
        `OSS does not know AccessKeyId "${id}" (bucket "${where.bucket}"): check ALIBABA_CLOUD_ACCESS_KEY_ID (InvalidAccessKeyId)`,
        where.bucket, id, code, requestId,
      );
    case 'AccessDenied':
      return new OssAuthError(
        `OSS denied ${operation} on ${where.url} to AccessKeyId "${id}": grant it access to bucket "${where.bucket}" in its RAM policy (AccessDenied)`,
        where.bucket, id, code, requestId,
      );
    case 'InvalidSecurityToken':
    case 'SecurityTokenExpired':
      return new OssAuthError(
        `OSS rejected the security token of AccessKeyId "${id}" for bucket "${where.bucket}": check ALIBABA_CLOUD_SECURITY_TOKEN or the instance's RAM role (${code})`,
        where.bucket, id, code, requestId,
      );
    case 'NoSuchKey':
      return new ObjectNotFoundError(where.url);
    case 'NoSuchBucket':
      return new OssRequestError(operation, where.url, status, code, requestId,
        `bucket "${where.bucket}" does not exist at ${where.endpointUrl} (check the oss:// URL, region and QFARM_OSS_ENDPOINT)`, false);
    case 'RequestTimeTooSkewed':
      return new OssRequestError(operation, where.url, status, code, requestId,
        `this machine's clock differs from OSS's by more than 15 minutes (sync it with NTP)`, true);
  }
  const network = status === -1 || status === -2 || NETWORK_NAMES.has(err.name) || /^E[A-Z]+$/.test(code);
  // InvalidDigest: OSS received different bytes than we hashed, i.e. corrupted in transit.
  const retryable = network || status >= 500 || code === 'RequestTimeout' || code === 'InvalidDigest';
  return new OssRequestError(operation, where.url, status, code, requestId, err.message, retryable);
}
