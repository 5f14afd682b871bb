/// <reference path="./ali-oss.d.ts" />
/**
 * What the OSS store's parts (storage/oss-ranged-read.ts, storage/oss-multipart.ts) need of the
 * store they serve: its client with current credentials, its error mapping and retry policy.
 */
import type OSS from 'ali-oss';
import type { CompiledRetryPolicy } from '../retry/retry-policy.js';
import { parseCrc64Header } from './crc64.js';
import type { ObjectMeta } from './object-store.js';

export interface OssSession {
  readonly bucket: string;
  readonly policy: CompiledRetryPolicy;
  urlFor(key: string): string;
  endpointUrl(): string;
  /** The shared client, its credentials and clock offset brought up to date. */
  client(): Promise<OSS>;
  head(key: string): Promise<ObjectMeta>;
  /** mapOssError for this bucket and the AccessKeyId in use. */
  mapError(err: unknown, operation: string, key: string): Error;
  /** A StorageError marked retryable. */
  isRetryable(err: unknown): boolean;
  /** retry()'s onRetry: after RequestTimeTooSkewed, learns OSS's clock. */
  beforeRetry(err: unknown): Promise<void>;
  /** Per request; for bodies, the idle time between chunks. */
  timeoutMs(): number;
  /** For an upload of `bytes`: the request timeout plus time to send them. */
  uploadTimeoutMs(bytes: number): number;
}

export function metaFromHeaders(key: string, h: Record<string, string | undefined>): ObjectMeta {
  const meta: ObjectMeta = {
    key,
    size: Number(h['content-length'] ?? 0),
    etag: h.etag ?? '',
    lastModified: new Date(h['last-modified'] ?? Date.now()),
  };
  const crc = parseCrc64Header(h['x-oss-hash-crc64ecma']);
  if (crc !== undefined) meta.crc64 = crc;
  return meta;
}

/** An explicit Content-Type, else none: ali-oss then derives it from the key's extension (.png → image/png). */
export function mimeOption(contentType: string | undefined): { mime?: string } {
  return contentType ? { mime: contentType } : {};
}
