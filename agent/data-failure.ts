import { InvalidStorageUrlError, OssAuthError, OutputUploadError, StorageError } from '../storage/errors.js';
import { UnsafeOutputError } from '../storage/nofollow-walk.js';
import { MissingCredentialsError } from '../storage/oss-credentials.js';
import { StageCacheLockedError } from '../storage/stage-cache.js';
import { UserSideError } from './user-side-data.js';

/**
 * Why staging a task's inputs or saving its outputs failed, which decides whether the master
 * runs the task again: only a transient failure may go away by trying again.
 */
export const DataFailureKind = {
  /** Network, 5xx, timeouts, a file that changed or vanished meanwhile, a full disk: try again. */
  Transient: 'transient',
  /**
   * This node is set up wrongly (no OSS credentials, keys OSS rejects, an unusable stage cache
   * in its state dir, a mount tool missing): every try on a node set up alike fails the same
   * way until an administrator fixes it, so the task is not run again.
   */
  NodeConfiguration: 'node-configuration',
  /** The user's own rights, outputs or data mapping: final on any node. */
  User: 'user',
} as const;
export type DataFailureKind = (typeof DataFailureKind)[keyof typeof DataFailureKind];

/** A setting or tool the node lacks; the message names what to set or install. */
export class NodeConfigurationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NodeConfigurationError';
  }
}

/** How many causes deep to look (a staging error wraps a store error wrapping ali-oss's). */
const MAX_CAUSE_DEPTH = 8;

/**
 * The kind of a staging or upload failure, from the first error along its cause chain that
 * tells: the kernel refusing the task's user, an unsafe `$OUTDIR` entry, a node setting, or a
 * store error marked retryable. What tells nothing (an unexpected errno, a non-retryable store
 * error such as a missing object) stays transient: the master's attempt cap bounds it.
 */
export function classifyDataFailure(err: unknown): DataFailureKind {
  for (let depth = 0, e: unknown = err; e instanceof Error && depth < MAX_CAUSE_DEPTH; depth++) {
    if (e instanceof UserSideError) return e.deniedToUser ? DataFailureKind.User : DataFailureKind.Transient;
    if (e instanceof UnsafeOutputError) return DataFailureKind.User;
    if (e instanceof OutputUploadError) {
      // The reason reported is the first failure's (or the destination writer's): classify that one.
      e = e.failures[0]?.error;
      continue;
    }
    if (isNodeConfiguration(e)) return DataFailureKind.NodeConfiguration;
    // A URL this agent cannot parse: an unknown scheme means the agent is older than the farm.
    if (e instanceof InvalidStorageUrlError) return e.reason === 'unknown scheme' ? DataFailureKind.NodeConfiguration : DataFailureKind.User;
    if (e instanceof StorageError && e.retryable) return DataFailureKind.Transient;
    e = e.cause;
  }
  return DataFailureKind.Transient;
}

function isNodeConfiguration(e: Error): boolean {
  return (
    e instanceof NodeConfigurationError ||
    e instanceof MissingCredentialsError ||
    // The node's keys or RAM role: wrong secret, unknown key, expired token, no grant.
    e instanceof OssAuthError ||
    e instanceof StageCacheLockedError
  );
}

/** Words for a failure reason after the cause's own, telling who acts on it. */
export function failureKindAdvice(kind: DataFailureKind): string {
  return kind === DataFailureKind.NodeConfiguration ? ' (a configuration problem of this node: an administrator must fix it; the task is not run again)' : '';
}
