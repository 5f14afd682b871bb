import { AttemptState, TaskState } from '../states.js';

/**
 * State names as SQL literals, built from the `as const` state objects so that a renamed state
 * cannot leave a query matching nothing. The values are our own constants, never user input;
 * the check keeps it that way.
 */
export function sqlList(states: readonly string[]): string {
  return states
    .map((state) => {
      if (!/^[a-z-]+$/.test(state)) throw new Error(`state name "${state}" cannot be written into SQL as a literal`);
      return `'${state}'`;
    })
    .join(', ');
}

/** Task rows waiting to run again after their host was lost (never-dispatched tasks have no row). */
export const REQUEUED_TASKS = sqlList([TaskState.Pending]);
/** Tasks that can still run: queued again, leased or running. */
export const UNFINISHED_TASKS = sqlList([TaskState.Pending, TaskState.Leased, TaskState.Running]);
/** Tasks an agent holds: leased or running. */
export const HELD_TASKS = sqlList([TaskState.Leased, TaskState.Running]);
/**
 * Attempts still in an agent's hands. Looked up by agent or host, say `ended_at IS NULL` instead:
 * the same rows (an attempt ends when it leaves them), and the partial index attempts_live's WHERE.
 */
export const LIVE_ATTEMPTS = sqlList([AttemptState.Leased, AttemptState.Running]);
/** Jobs neither finished nor deleted (a condition on the jobs table). */
export const LIVE_JOB = 'finished = 0 AND deleted = 0';
