import { RetriesExhaustedError } from '../retry/retry.js';
import { OssAuthError, OssRequestError, StorageError } from '../storage/errors.js';

/** A storage error, also once retries of it ran out (a RetriesExhaustedError is not one itself). */
export function isStorageFailure(error: unknown): error is StorageError | RetriesExhaustedError {
  return error instanceof StorageError || (error instanceof RetriesExhaustedError && error.lastError instanceof StorageError);
}

/**
 * What to do about a storage error that reached a command: these are the user's setup (keys,
 * endpoint, clock, bucket, network), not bugs in qfarm, so the hint names the setting to check.
 */
export function storageErrorHint(error: StorageError | RetriesExhaustedError): string {
  const cause = error instanceof RetriesExhaustedError && error.lastError instanceof StorageError ? error.lastError : error;
  if (cause instanceof OssAuthError) {
    switch (cause.code) {
      case 'SignatureDoesNotMatch':
        return (
          `the secret does not match AccessKeyId "${cause.accessKeyId}": check ALIBABA_CLOUD_ACCESS_KEY_SECRET (or the ` +
          "credentials file); also check this machine's clock (date -u; OSS allows 15 minutes of skew) and the endpoint " +
          '(QFARM_OSS_ENDPOINT / QFARM_OSS_REGION must be the bucket\'s region; QFARM_OSS_SIGNATURE=v4 if the bucket requires V4)'
        );
      case 'InvalidAccessKeyId':
        return `check ALIBABA_CLOUD_ACCESS_KEY_ID, and that the endpoint (QFARM_OSS_ENDPOINT / QFARM_OSS_REGION) is Alibaba Cloud's for that key`;
      case 'AccessDenied':
        return `grant AccessKeyId "${cause.accessKeyId}" access to bucket "${cause.bucket}" in its RAM policy, or use a key that has it`;
      default:
        return 'check the OSS credentials (ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET, ALIBABA_CLOUD_SECURITY_TOKEN or the instance RAM role)';
    }
  }
  if (cause instanceof OssRequestError && cause.status === -2) return 'OSS could not be reached: check the endpoint (QFARM_OSS_ENDPOINT / QFARM_OSS_REGION, QFARM_OSS_INTERNAL only inside the VPC) and the network';
  return 'a storage setting or the data, not qfarm: check the URL, the OSS endpoint and credentials, and that the object exists';
}
