/**
 * The one storage interface the agent and the CLI use, plus URL parsing.
 *
 * A store is bound to a bucket (for `file://`, the file system root stands in for the bucket);
 * keys are bucket-relative. `parseStorageUrl` splits a URL into (scheme, bucket, prefix), and
 * `openObjectStore` picks the adapter. Adapters live in file-store.ts and oss-store.ts.
 */
import type { Readable } from 'node:stream';
import { InvalidStorageUrlError } from './errors.js';

export interface ObjectMeta {
  /** Bucket-relative key. */
  key: string;
  size: number;
  /** Opaque version tag; changes whenever the content changes. */
  etag: string;
  /** CRC-64/XZ as a decimal string (OSS's `x-oss-hash-crc64ecma`), when known. */
  crc64?: string;
  lastModified: Date;
}

export interface ListOptions {
  /** Keys per page (OSS max-keys; 1..1000). @default 1000 */
  pageSize?: number;
}

export interface PutOptions {
  /** Size in bytes when known; required for streams larger than the in-memory threshold to be fast. */
  size?: number;
  contentType?: string;
}

export interface ObjectStore {
  /** `oss` or `file`. */
  readonly scheme: StorageScheme;
  /** Bucket name (`/` for file stores). */
  readonly bucket: string;
  /** Every object whose key starts with `prefix`, in key order, fetched page by page. */
  list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectMeta>;
  /** Metadata, or ObjectNotFoundError. */
  head(key: string): Promise<ObjectMeta>;
  /**
   * A stream of the object's bytes. Adapters verify the CRC-64 at the end of a full read and
   * fail the stream (CrcMismatchError) instead of ending it cleanly when the bytes are wrong.
   */
  get(key: string): Promise<Readable>;
  /** Download to `path` atomically (temp file + rename), verified; returns the metadata. */
  download(key: string, path: string): Promise<ObjectMeta>;
  /** Upload from a stream or a local file path; verified by CRC-64; returns the stored metadata. */
  put(key: string, source: Readable | string, opts?: PutOptions): Promise<ObjectMeta>;
  delete(key: string): Promise<void>;
  /** The URL of a key in this store, e.g. `oss://bucket/key`. */
  urlFor(key: string): string;
}

export const StorageScheme = { File: 'file', Oss: 'oss' } as const;
export type StorageScheme = (typeof StorageScheme)[keyof typeof StorageScheme];

export interface StorageLocation {
  scheme: StorageScheme;
  /** OSS bucket; `/` for file URLs. */
  bucket: string;
  /** Bucket-relative prefix (no leading slash); may be empty. */
  prefix: string;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/**
 * `file:///abs/dir/prefix` → {file, "/", "abs/dir/prefix"};
 * `oss://bucket/prefix/` → {oss, "bucket", "prefix/"}.
 */
export function parseStorageUrl(url: string): StorageLocation {
  if (url.startsWith('file://')) {
    const rest = url.slice('file://'.length);
    if (!rest.startsWith('/')) throw new InvalidStorageUrlError(url, 'file URLs need an absolute path (file:///dir/)');
    let path: string;
    try {
      path = decodeURIComponent(rest);
    } catch {
      throw new InvalidStorageUrlError(url, 'bad percent-encoding');
    }
    if (path.split('/').some((seg) => seg === '..')) throw new InvalidStorageUrlError(url, '".." is not allowed');
    return { scheme: StorageScheme.File, bucket: '/', prefix: path.replace(/^\/+/, '') };
  }
  if (url.startsWith('oss://')) {
    const rest = url.slice('oss://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? '' : rest.slice(slash + 1);
    if (!BUCKET_NAME.test(bucket)) {
      throw new InvalidStorageUrlError(url, `"${bucket}" is not a valid OSS bucket name (3-63 of a-z 0-9 -)`);
    }
    if (prefix.startsWith('/')) throw new InvalidStorageUrlError(url, 'the key prefix must not start with "/"');
    return { scheme: StorageScheme.Oss, bucket, prefix };
  }
  throw new InvalidStorageUrlError(url, 'unknown scheme');
}

/** The inverse of parseStorageUrl for one key. */
export function formatStorageUrl(scheme: StorageScheme, bucket: string, key: string): string {
  // parseStorageUrl percent-decodes file URLs, so a literal % in a file name must be encoded.
  return scheme === StorageScheme.File ? `file:///${key.replace(/%/g, '%25')}` : `oss://${bucket}/${key}`;
}

/** Joins a prefix and a relative path with exactly one `/` between non-empty parts. */
export function joinKey(prefix: string, relative: string): string {
  if (prefix === '') return relative;
  return prefix.endsWith('/') ? prefix + relative : `${prefix}/${relative}`;
}
