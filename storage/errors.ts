/**
 * Named storage errors. Messages say what failed, for which bucket/key, and what to do.
 * They never contain a secret: only bucket, key, AccessKeyId, codes and request ids.
 */

export class StorageError extends Error {
  /** True when retrying the same operation may succeed (5xx, resets, timeouts, CRC mismatch). */
  readonly retryable: boolean;
  constructor(message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.retryable = opts.retryable ?? false;
  }
}

/** A storage URL we cannot use. */
export class InvalidStorageUrlError extends StorageError {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`invalid storage URL "${url}": ${reason} (expected file:///abs/dir/ or oss://bucket/prefix/)`);
  }
}

/** GET/HEAD of a key that does not exist. */
export class ObjectNotFoundError extends StorageError {
  constructor(readonly url: string) {
    super(`object not found: ${url}`);
  }
}

/** The object's CRC-64 computed here differs from the one the store reports. */
export class CrcMismatchError extends StorageError {
  constructor(
    readonly url: string,
    readonly operation: 'upload' | 'download',
    readonly localCrc64: string,
    readonly remoteCrc64: string,
  ) {
    super(
      `CRC-64 mismatch on ${operation} of ${url}: computed ${localCrc64} here, store reports ${remoteCrc64}; ` +
        `the data was corrupted in transit (retry; if it persists check the network path)`,
      { retryable: true },
    );
  }
}

/** The object changed (ETag differs) while we were reading it in several ranges. */
export class ObjectChangedError extends StorageError {
  constructor(
    readonly url: string,
    readonly expectedEtag: string,
    readonly actualEtag: string,
  ) {
    super(`${url} changed while it was being downloaded (ETag ${expectedEtag} → ${actualEtag}); retry`, {
      retryable: true,
    });
  }
}

/** OSS rejected the credentials (signature, unknown key, denied, skew that could not be fixed). */
export class OssAuthError extends StorageError {
  constructor(
    message: string,
    readonly bucket: string,
    readonly accessKeyId: string,
    readonly code: string,
    readonly requestId: string | undefined,
  ) {
    super(message);
  }
}

/** Any other OSS error, with the fields OSS gave us. */
export class OssRequestError extends StorageError {
  constructor(
    readonly operation: string,
    readonly url: string,
    readonly status: number,
    readonly code: string,
    readonly requestId: string | undefined,
    detail: string,
    retryable: boolean,
  ) {
    super(
      `OSS ${operation} ${url} failed: ${code}${status > 0 ? ` (HTTP ${status})` : ''}${
        requestId ? `, RequestId ${requestId}` : ''
      }: ${detail}`,
      { retryable },
    );
  }
}

/** Uploading a task's outputs failed; the attempt must fail (nothing is committed). */
export class OutputUploadError extends StorageError {
  constructor(
    readonly destination: string,
    readonly failures: { path: string; error: Error }[],
    readonly uploaded: number,
  ) {
    const first = failures[0];
    super(
      `uploading outputs to ${destination} failed for ${failures.length} file(s) (${uploaded} uploaded)` +
        (first ? `; first: ${first.path}: ${first.error.message}` : ''),
      { cause: first?.error },
    );
  }
}
