/** Lifecycle of one array task (or the single task of a plain job). */
export const TaskState = {
  /** Waiting to run again after its host was lost (never-dispatched tasks have no row). */
  Pending: 'pending',
  /** Leased to an agent that has not reported the process started yet. */
  Leased: 'leased',
  Running: 'running',
  /** Finished: its committed attempt holds exit status and usage. */
  Done: 'done',
  /** Deleted (qdel) before it ran; not in accounting. */
  Deleted: 'deleted',
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState];

/** Lifecycle of one attempt to run a task on a host. */
export const AttemptState = {
  Leased: 'leased',
  Running: 'running',
  /** The agent's result was committed: this attempt is the task's outcome. */
  Done: 'done',
  /** Its host vanished past the lease grace period; the task was requeued. */
  Lost: 'lost',
  /** Withdrawn by the master (qdel of a task whose host is gone, or refused by the agent). */
  Cancelled: 'cancelled',
  /** Failed for a reason of the node (staging, upload): the task was queued to run again. */
  Failed: 'failed',
  /** Its machine was reclaimed (spot notice): the task was requeued; neither lost nor failed. */
  Interrupted: 'interrupted',
} as const;
export type AttemptState = (typeof AttemptState)[keyof typeof AttemptState];
