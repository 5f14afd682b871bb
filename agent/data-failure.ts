import { OutputUploadError, StorageError } from '../storage/errors.js';
import { UnsafeOutputError } from '../storage/nofollow-walk.js';
import { UserSideError } from './user-side-data.js';

/**
 * Whether a staging or upload failure is the user's own and would fail the same way on any
 * node: the kernel refused the task's user (a source they may not read, a target they may not
 * write), or their `$OUTDIR` holds something that is never uploaded (a symlink, a fifo, a file
 * of another uid). Such a failure is final. Everything else (network, 5xx, a file that changed
 * or vanished meanwhile, a node without a cache) is the node's, and the task may run again.
 */
export function failureIsTheUsers(err: unknown): boolean {
  for (let seen = 0, e: unknown = err; e instanceof Error && seen < 8; seen++) {
    if (e instanceof UserSideError) return e.deniedToUser;
    if (e instanceof UnsafeOutputError) return true;
    if (e instanceof OutputUploadError) {
      // The reason reported is the first failure's (or the destination writer's): classify that one.
      e = e.failures[0]?.error;
      continue;
    }
    if (e instanceof StorageError && e.retryable) return false;
    e = e.cause;
  }
  return false;
}
