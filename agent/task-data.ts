import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { DataMapping, JobData, OutputManifest } from '../protocol/job-data.js';
import { findExecutable, nfsMountArgs, ossfsMountArgs } from '../storage/data-mappings.js';
import { OutputUploadError } from '../storage/errors.js';
import { parseStorageUrl } from '../storage/object-store.js';
import { StoreResolver } from '../storage/open-store.js';
import { StageCache } from '../storage/stage-cache.js';
import { listPrefix, streamTreeFromCache } from '../storage/stage-stream.js';
import type { ObjectMeta } from '../storage/object-store.js';
import { InputConflictError, SharedInputs, type ReleaseInput } from './shared-inputs.js';
import { uploadOutputs } from '../storage/upload-outputs.js';
import { openDirNoFollow } from '../storage/nofollow-walk.js';
import { classifyDataFailure, DataFailureKind, failureKindAdvice, NodeConfigurationError } from './data-failure.js';
import { isPublishedAsUser, makeDirAsUser, openPublishingWriter, openUserTar, removeTreeAsUser, treeDigestAsUser, type TaskDataUser } from './user-side-data.js';

/**
 * A task's data could not be provided or saved, and of which kind that failure is
 * (agent/data-failure.ts): only a transient one is `retryable`, so the master runs the task
 * again (elsewhere) rather than committing it as failed. The user's own rights or outputs, and
 * this node's configuration, would fail the same way again; the message then says who must act.
 */
export class TaskDataError extends Error {
  readonly kind: DataFailureKind;
  constructor(message: string, options: { cause?: unknown; kind: DataFailureKind }) {
    super(message + failureKindAdvice(options.kind), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TaskDataError';
    this.kind = options.kind;
  }

  get retryable(): boolean {
    return this.kind === DataFailureKind.Transient;
  }
}

export interface NodeDataOptions {
  /** Where the node-local content cache lives (one per agent). */
  cacheDir: string;
  /** Upper bound of the cache; least recently used objects are evicted beyond it. */
  cacheMaxBytes: number;
  log: Logger;
  env?: NodeJS.ProcessEnv;
}

/**
 * The data side of one node: OSS inputs downloaded once per node into a content cache only the
 * agent can read (concurrent tasks wait on one download) and streamed as copies to a writer
 * running as the task's user; `file://` inputs copied by the user themselves; NFS exports
 * mounted once; `$OUTDIR` uploaded with CRC-64 verification before a task's result is reported
 * (read without following links for OSS, written by the user for `file://`).
 */
export class NodeData {
  private cache: Promise<StageCache> | undefined;
  private readonly resolver: StoreResolver;
  /** Staged trees at node paths, shared by the tasks that map them. */
  private readonly shared: SharedInputs;
  private readonly mounts = new Map<string, Promise<void>>();
  /** Mount point → the uid it was claimed for (only that user's tasks may use it). */
  private readonly mountOwners = new Map<string, number>();

  constructor(private readonly opts: NodeDataOptions) {
    this.resolver = new StoreResolver({}, opts.env ?? process.env);
    this.shared = new SharedInputs(opts.log);
  }

  /**
   * Makes every input of the job available at its target path, complete, before the task
   * starts. The task calls the result when it has ended (staged trees it used may then be
   * replaced or removed); on failure nothing stays held.
   */
  async prepareInputs(data: JobData, who: TaskDataUser): Promise<ReleaseInput> {
    const held: ReleaseInput[] = [];
    const releaseAll: ReleaseInput = async () => {
      for (const release of held.splice(0)) await release();
    };
    for (const mapping of data.inputs) {
      try {
        if (mapping.kind === 'nas') await this.mountFor(mapping, who, () => this.mountNfs(mapping));
        else if (mapping.kind === 'oss' && mapping.readOnly && (await this.ossfsUsable())) await this.mountFor(mapping, who, () => this.mountOssfs(mapping));
        else held.push(await this.stage(mapping, who));
      } catch (err) {
        await releaseAll();
        // A path mapped twice is the job's mistake, not the node's: not retried, not counted against the host.
        if (err instanceof TaskDataError || err instanceof InputConflictError) throw err;
        throw new TaskDataError(`input ${mapping.source} could not be staged to ${mapping.target}: ${(err as Error).message}`, { cause: err, kind: classifyDataFailure(err) });
      }
    }
    return releaseAll;
  }

  /**
   * Uploads `$OUTDIR` to the job's output location; resolves only when every object is verified.
   * `file://` outputs are created with the job's `umask`.
   */
  async uploadOutputs(outdir: string, outputUrl: string, who: TaskDataUser, umask = 0o022): Promise<OutputManifest> {
    try {
      return await uploadOutputs(outdir, outputUrl, {
        resolver: this.resolver,
        ownerUid: who.identity.uid,
        openFileDestination: async (destDir) => openUserTar(destDir, who, `writing outputs to ${destDir}`, false, umask),
      });
    } catch (err) {
      throw new TaskDataError(`uploading $OUTDIR to ${outputUrl} failed: ${uploadFailure(err, outdir)}`, { cause: err, kind: classifyDataFailure(err) });
    }
  }

  async close(): Promise<void> {
    if (this.cache) await (await this.cache).close();
  }

  /**
   * An OSS or file:// input, staged once per node per (source, target, user) and published whole
   * (agent/shared-inputs.ts); the copies are made by processes running as the user.
   */
  private stage(mapping: DataMapping, who: TaskDataUser): Promise<ReleaseInput> {
    let listing: ObjectMeta[] | undefined;
    const sourceDir = mapping.kind === 'file' ? '/' + parseStorageUrl(mapping.source).prefix.replace(/\/+$/, '') : undefined;
    const what = mapping.kind === 'file' ? `copying ${mapping.source} to ${mapping.target}` : `writing the staged files of ${mapping.source} to ${mapping.target}`;
    return this.shared.use(mapping, who, {
      // The source is part of the version: two sources may list alike (same names, sizes, times).
      version: async () => {
        if (sourceDir !== undefined) return sourceVersion(mapping.source, await treeDigestAsUser(sourceDir, who, `listing ${sourceDir}`));
        listing = await listPrefix(this.resolver, mapping.source);
        return sourceVersion(mapping.source, listingDigest(listing));
      },
      isPublished: (version) => isPublishedAsUser(mapping.target, version, who),
      publish: async ({ keepReplaced, version }) => {
        if (sourceDir !== undefined) {
          const writer = openPublishingWriter(mapping.target, who, what, { readOnly: mapping.readOnly, keepReplaced, version, sourceDir });
          const published = await writer.done();
          this.opts.log.info({ source: mapping.source, target: mapping.target, user: who.identity.name }, 'input copied as the user and published');
          return published;
        }
        const cache = await this.openCache();
        const objects = listing ?? (await listPrefix(this.resolver, mapping.source));
        const writer = openPublishingWriter(mapping.target, who, what, { readOnly: mapping.readOnly, keepReplaced, version });
        try {
          const result = await streamTreeFromCache(cache, this.resolver, mapping.source, writer.tar!, { mode: mapping.readOnly ? 0o444 : 0o644, objects });
          await writer.tar!.finish();
          const published = await writer.done();
          this.opts.log.info({ source: mapping.source, target: mapping.target, user: who.identity.name, ...result }, 'input staged and published');
          return published;
        } catch (err) {
          // The writer's own reason (e.g. Permission denied on the target) explains a broken stream best.
          throw (await writer.abort()) ?? err;
        }
      },
      remove: (dir, owner) => removeTreeAsUser(dir, owner, `removing the replaced input tree ${dir}`),
    });
  }

  private async mountFor(mapping: DataMapping, who: TaskDataUser, mount: () => Promise<void>): Promise<void> {
    await this.claimMountPoint(mapping.target, who);
    try {
      await mount();
    } catch (err) {
      if (!this.mounts.has(mapping.target)) this.mountOwners.delete(mapping.target); // nothing mounted: the claim lapses
      throw err;
    }
  }

  /**
   * Root mounts over the target, so it must be a directory the task's user made or owns: made
   * by them (mkdir as the user), then checked through a descriptor opened without following
   * links. A mount point then serves that user's tasks only. Still open: mount(8) resolves
   * the path again, so a user who owns the parent could swap it in between.
   */
  private async claimMountPoint(target: string, who: TaskDataUser): Promise<void> {
    const claimedBy = this.mountOwners.get(target);
    if (claimedBy !== undefined) {
      if (claimedBy === who.identity.uid) return; // mounted for this user already: its root is the export's now
      // Another node has no such mount: trying there may work.
      throw new TaskDataError(`${target} is already a mount point for uid ${claimedBy} on this node; user ${who.identity.name} must map the data elsewhere`, { kind: DataFailureKind.Transient });
    }
    await makeDirAsUser(target, who, `creating the mount point ${target}`);
    if (!who.asSelf) {
      const dir = await openDirNoFollow(target);
      try {
        const st = await dir.stat();
        if (st.uid !== who.identity.uid) {
          throw new TaskDataError(`mount point ${target} belongs to uid ${st.uid}, not to user ${who.identity.name}: map the data to a directory that user owns`, { kind: DataFailureKind.User });
        }
      } finally {
        await dir.close();
      }
    }
    this.mountOwners.set(target, who.identity.uid);
  }

  private openCache(): Promise<StageCache> {
    this.cache ??= StageCache.open({ dir: this.opts.cacheDir, maxBytes: this.opts.cacheMaxBytes, resolver: this.resolver }).catch((err: unknown) => {
      this.cache = undefined; // once an administrator fixes the directory, the next task opens it
      throw unusableCache(err, this.opts.cacheDir);
    });
    return this.cache;
  }

  /**
   * Read-only OSS inputs are mounted with ossfs when the worker image has it and the agent is
   * root (QFARM_OSS_MOUNT=0 turns this off); otherwise they are staged into the cache.
   */
  private async ossfsUsable(): Promise<boolean> {
    const env = this.opts.env ?? process.env;
    if (env['QFARM_OSS_MOUNT'] === '0' || process.getuid?.() !== 0) return false;
    return (await findExecutable('ossfs', env)) !== undefined;
  }

  /** One ossfs mount per node path, shared by every task that maps it (untested here: no FUSE). */
  private mountOssfs(mapping: DataMapping): Promise<void> {
    let mounted = this.mounts.get(mapping.target);
    if (!mounted) {
      mounted = (async () => {
        const env = this.opts.env ?? process.env;
        const bucket = parseStorageUrl(mapping.source).bucket;
        const region = env['QFARM_OSS_REGION'];
        const endpointUrl = env['QFARM_OSS_ENDPOINT'] ?? (region ? `http://oss-${region}${env['QFARM_OSS_INTERNAL'] === '1' ? '-internal' : ''}.aliyuncs.com` : undefined);
        if (!endpointUrl) throw new TaskDataError(`mounting ${mapping.source} with ossfs needs QFARM_OSS_ENDPOINT or QFARM_OSS_REGION in the agent's environment`, { kind: DataFailureKind.NodeConfiguration });
        const role = env['QFARM_OSS_RAM_ROLE'];
        let passwdFile: string | undefined;
        if (!role || role === 'auto') {
          const id = env['ALIBABA_CLOUD_ACCESS_KEY_ID'];
          const secret = env['ALIBABA_CLOUD_ACCESS_KEY_SECRET'];
          if (!id || !secret) throw new TaskDataError(`mounting ${mapping.source} with ossfs needs ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET or QFARM_OSS_RAM_ROLE=<role> in the agent's environment`, { kind: DataFailureKind.NodeConfiguration });
          passwdFile = path.join(this.opts.cacheDir, '..', `ossfs-${bucket}.passwd`);
          await fsp.writeFile(passwdFile, `${bucket}:${id}:${secret}\n`, { mode: 0o600 });
        }
        const metadata = env['QFARM_ECS_METADATA_URL'] ?? 'http://100.100.100.200';
        const argv = ossfsMountArgs(mapping, {
          endpointUrl,
          ...(role && role !== 'auto' ? { ramRoleUrl: `${metadata}/latest/meta-data/ram/security-credentials/${role}` } : { passwdFile: passwdFile! }),
        });
        await run(argv[0]!, argv.slice(1));
        this.opts.log.info({ source: mapping.source, target: mapping.target }, 'OSS prefix mounted with ossfs');
      })();
      mounted.catch(() => this.mounts.delete(mapping.target));
      this.mounts.set(mapping.target, mounted);
    }
    return mounted;
  }

  /** NFS exports are mounted once per node and shared by every task that maps them. */
  private mountNfs(mapping: DataMapping): Promise<void> {
    let mounted = this.mounts.get(mapping.target);
    if (!mounted) {
      mounted = (async () => {
        if (process.getuid?.() !== 0) {
          throw new TaskDataError(`mounting ${mapping.source} needs root: run the agent as root, or mount it on the node yourself and map file://${mapping.target}/`, { kind: DataFailureKind.NodeConfiguration });
        }
        if (!(await findExecutable('mount.nfs'))) {
          throw new TaskDataError(`mounting ${mapping.source} needs mount.nfs: install nfs-common in the worker image`, { kind: DataFailureKind.NodeConfiguration });
        }
        const argv = nfsMountArgs(mapping);
        await run(argv[0]!, argv.slice(1));
        this.opts.log.info({ source: mapping.source, target: mapping.target }, 'NFS export mounted');
      })();
      mounted.catch(() => this.mounts.delete(mapping.target));
      this.mounts.set(mapping.target, mounted);
    }
    return mounted;
  }
}

/**
 * The directory a task's `$OUTDIR` points at: inside its TMPDIR, owned by the task's user. The
 * TMPDIR is the user's already, so the chown goes through a descriptor opened without following
 * links: a symlink raced into its place cannot hand the user some other file.
 */
export async function makeOutdir(tmpdir: string, owner: { uid: number; gid: number }): Promise<string> {
  const outdir = path.join(tmpdir, 'outdir');
  await fsp.mkdir(outdir, { mode: 0o700 });
  if (process.getuid?.() === 0) {
    const dir = await fsp.open(outdir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW);
    try {
      await dir.chown(owner.uid, owner.gid);
    } finally {
      await dir.close();
    }
  }
  return outdir;
}

/** The version of an OSS source: its keys, ETags and sizes, in listing order (sorted by key). */
function listingDigest(objects: ObjectMeta[]): string {
  const hash = createHash('sha256');
  for (const o of objects) hash.update(`${o.key}\t${o.etag}\t${o.size}\n`);
  return hash.digest('hex');
}

function sourceVersion(source: string, contentDigest: string): string {
  return createHash('sha256').update(`${source}\n${contentDigest}`).digest('hex');
}

/** Errors of a directory the agent cannot use as it is: its permissions or its place. */
const UNUSABLE_DIRECTORY_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'ELOOP', 'EEXIST']);

/** Opening the stage cache failed: a directory set up wrongly is the node's configuration. */
function unusableCache(err: unknown, cacheDir: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === undefined || !UNUSABLE_DIRECTORY_CODES.has(code)) return err;
  return new NodeConfigurationError(
    `the agent's stage cache ${cacheDir} cannot be used (${(err as Error).message}): give the agent a --state-dir it owns and can write (the cache is its cache/ subdirectory)`,
    { cause: err },
  );
}

/** The first failure of an upload, said once (the file's own error names the file). */
function uploadFailure(err: unknown, outdir: string): string {
  if (!(err instanceof OutputUploadError)) return (err as Error).message;
  const first = err.failures[0];
  if (!first) return err.message;
  const more = err.failures.length > 1 ? ` (and ${err.failures.length - 1} more)` : '';
  // The destination's writer failed: what it had been sent is not written, so no count.
  if (first.path === err.destination) return first.error.message;
  const named = first.path === outdir || first.error.message.includes(first.path);
  const partial = err.uploaded > 0 ? `; ${err.uploaded} other file(s) were uploaded but are not committed` : '';
  return `${named ? '' : `${first.path}: `}${first.error.message}${more}${partial}`;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new TaskDataError(`${command} ${args.join(' ')} failed (${code}): ${stderr.trim()}`, { kind: DataFailureKind.Transient }))));
  });
}
