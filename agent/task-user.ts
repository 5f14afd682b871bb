import { FailedCode, type TaskAssignment } from '../protocol/agent-messages.js';

/** How a task's processes get their identity. */
export type RunAs =
  /** Same uid as the agent: spawn normally. */
  | { kind: 'self' }
  /** The agent is root and drops to the user's uid/gid in the child. */
  | { kind: 'drop'; uid: number; gid: number };

/** The task cannot run as its owner on this host; reported as failed code 1 (before job). */
export class TaskUserError extends Error {
  readonly failedCode = FailedCode.BeforeJob;
  constructor(
    readonly agentUid: number,
    readonly user: string,
    readonly uid: number,
  ) {
    super(`agent runs as uid ${agentUid} and cannot run tasks as user ${user} (uid ${uid}); run the agent as root or submit as ${agentUid}`);
    this.name = 'TaskUserError';
  }
}

/**
 * Decides how to run as the submitting user. Never silently runs as someone else: a non-root
 * agent refuses tasks of other users.
 */
export function runAsFor(user: TaskAssignment['user'], agentUid: number): RunAs {
  if (user.uid === agentUid) return { kind: 'self' };
  if (agentUid === 0) return { kind: 'drop', uid: user.uid, gid: user.gid };
  throw new TaskUserError(agentUid, user.name, user.uid);
}
