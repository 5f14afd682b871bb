/**
 * How often a task runs again when it did not fail by itself (issue 12, part 3). Two budgets,
 * counted apart on the task row, because their causes differ:
 *
 * - A *node failure* is a result the agent marks retryable: the node could not stage an input
 *   or upload an output. The task runs again elsewhere, up to `nodeFailureAttempts` node
 *   failures in all; the last one is committed as the task's failure.
 * - A *host loss* is a running attempt whose host vanished past the lease grace period (or
 *   whose restarted agent no longer knows it). SGE reruns a rerunnable job after a host failure
 *   without a limit; qfarm caps it at `maxHostLosses` because a task that brings its host down
 *   (memory exhaustion, a kernel panic) would otherwise take down one host after another. Past
 *   the cap the task ends as a `-r n` task does when its host is lost: `failed 100`, exit 137.
 *   A lease lost before the task started, and a spot reclaim (the provider's doing, and the
 *   autoscaler's own), count against neither budget.
 */
export interface TaskRetryPolicy {
  /** Node failures a task may have; the last is committed. 1: never rerun. @default 3 */
  nodeFailureAttempts: number;
  /** Host losses a running task may suffer; the last ends it as failed. 0: no limit (SGE). @default 10 */
  maxHostLosses: number;
}

/** Today's behaviour before this option existed: 3 attempts for node failures. */
export const DEFAULT_NODE_FAILURE_ATTEMPTS = 3;
export const DEFAULT_MAX_HOST_LOSSES = 10;

export const DEFAULT_TASK_RETRY_POLICY: TaskRetryPolicy = {
  nodeFailureAttempts: DEFAULT_NODE_FAILURE_ATTEMPTS,
  maxHostLosses: DEFAULT_MAX_HOST_LOSSES,
};

/** Does this host loss (the task's `hostLosses`-th, counting it) end the task? */
export function hostLossesExhausted(policy: TaskRetryPolicy, hostLosses: number): boolean {
  return policy.maxHostLosses > 0 && hostLosses >= policy.maxHostLosses;
}
