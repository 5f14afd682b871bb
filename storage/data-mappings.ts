/**
 * Job data mappings, as written on `qsub` and in render jobs, and the mount commands they need:
 *
 *   oss://bucket/prefix/:/local/path[:ro|:rw]      OSS prefix at a node path (mount or stage)
 *   nas://host:/export:/local/path[:ro|:rw]         NFS export at a node path
 *   file:///abs/dir/:/local/path[:ro|:rw]           local directory (embedded default)
 *
 * Inputs are read-only unless `:rw` is given. Commands are argv arrays (never a shell string),
 * so no value is ever interpreted by a shell.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError } from './errors.js';
import { parseStorageUrl } from './object-store.js';
import type { DataMapping } from '../protocol/job-data.js';

export const MappingKind = { Oss: 'oss', Nas: 'nas', File: 'file' } as const;
export type MappingKind = (typeof MappingKind)[keyof typeof MappingKind];

// The mapping's shape is the protocol's (it travels qsub → master → agent).
export type { DataMapping };

export class InvalidMappingError extends StorageError {
  constructor(
    readonly spec: string,
    reason: string,
  ) {
    super(`invalid data mapping "${spec}": ${reason} (expected oss://bucket/prefix/:/local/path[:ro], nas://host:/export:/local/path[:ro] or file:///dir/:/local/path[:ro])`);
  }
}

/** Parse one mapping spec. */
export function parseDataMapping(spec: string): DataMapping {
  let rest = spec;
  let readOnly = true;
  const mode = /:(ro|rw)$/.exec(rest);
  if (mode) {
    readOnly = mode[1] === 'ro';
    rest = rest.slice(0, -3);
  }
  // The target is the last ":/…" that starts an absolute path.
  const schemeEnd = rest.indexOf('://') + 3;
  const cut = rest.lastIndexOf(':/');
  if (schemeEnd < 3 || cut < schemeEnd) throw new InvalidMappingError(spec, 'no ":/local/path" target');
  const source = rest.slice(0, cut);
  if (source.startsWith('nas://') && !source.slice(schemeEnd).includes(':/')) {
    throw new InvalidMappingError(spec, 'no ":/local/path" target after nas://<host>:/<export>');
  }
  const target = rest.slice(cut + 1);
  if (!target.startsWith('/') || target.split('/').includes('..')) throw new InvalidMappingError(spec, 'the target must be an absolute path without ".."');
  if (source.startsWith('nas://')) {
    const m = /^nas:\/\/([A-Za-z0-9.-]+):(\/[^\s]*)$/.exec(source);
    if (!m) throw new InvalidMappingError(spec, 'NAS sources look like nas://<host>:/<export>');
    return { kind: MappingKind.Nas, source, target, readOnly };
  }
  try {
    const loc = parseStorageUrl(source);
    return { kind: loc.scheme === 'oss' ? MappingKind.Oss : MappingKind.File, source, target, readOnly };
  } catch (err) {
    throw new InvalidMappingError(spec, (err as Error).message);
  }
}

/** `mount -t nfs` argv with the options Alibaba recommends for NAS (NFSv3, 1 MiB rsize/wsize, hard, noresvport). */
export function nfsMountArgs(mapping: DataMapping): string[] {
  if (mapping.kind !== MappingKind.Nas) throw new StorageError(`not a NAS mapping: ${mapping.source}`);
  const remote = mapping.source.slice('nas://'.length);
  const opts = ['vers=3', 'nolock', 'proto=tcp', 'rsize=1048576', 'wsize=1048576', 'hard', 'timeo=600', 'retrans=2', 'noresvport'];
  if (mapping.readOnly) opts.push('ro');
  return ['mount', '-t', 'nfs', '-o', opts.join(','), remote, mapping.target];
}

export interface OssfsOptions {
  /** OSS endpoint URL ossfs should use, e.g. http://oss-cn-hangzhou-internal.aliyuncs.com. */
  endpointUrl: string;
  /** Credentials file (`bucket:AK:SK`, mode 0600) — or use ramRoleUrl instead. */
  passwdFile?: string;
  /** `http://100.100.100.200/latest/meta-data/ram/security-credentials/<role>`: no keys on disk. */
  ramRoleUrl?: string;
  /** Let the task's user read the mount. @default true */
  allowOther?: boolean;
}

/** `ossfs bucket[:/prefix] mountpoint -o…` argv (Alibaba's FUSE client; baked into worker images). */
export function ossfsMountArgs(mapping: DataMapping, opts: OssfsOptions): string[] {
  if (mapping.kind !== MappingKind.Oss) throw new StorageError(`not an OSS mapping: ${mapping.source}`);
  const loc = parseStorageUrl(mapping.source);
  const prefix = loc.prefix.replace(/\/+$/, '');
  const args = ['ossfs', prefix ? `${loc.bucket}:/${prefix}` : loc.bucket, mapping.target, '-ourl=' + opts.endpointUrl];
  if (opts.ramRoleUrl) args.push('-oram_role=' + opts.ramRoleUrl);
  else if (opts.passwdFile) args.push('-opasswd_file=' + opts.passwdFile);
  else throw new StorageError(`ossfs mount of ${mapping.source} needs a passwd file or a RAM role`);
  if (opts.allowOther ?? true) args.push('-oallow_other');
  if (mapping.readOnly) args.push('-oro');
  return args;
}

/** Unmount argv for a FUSE (ossfs) or NFS mount point. */
export function unmountArgs(mapping: DataMapping): string[] {
  return mapping.kind === MappingKind.Oss ? ['fusermount', '-u', mapping.target] : ['umount', mapping.target];
}

/**
 * Absolute path of an executable (e.g. `ossfs`, `s3fs`, `mount.nfs`) on PATH, or undefined —
 * how the agent decides between mounting an OSS input and staging it into the cache.
 */
export async function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(':').filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory (or not executable): keep looking
    }
  }
  return undefined;
}
