import { ACTIVE_ATTEMPT_STATES, TaskState } from '../states.js';

/**
 * A list of states for SQL `IN (...)`, written from the `as const` state objects so a query
 * cannot drift from the states the code knows. The values are our own constants, never input.
 */
export function sqlStates(states: readonly string[]): string {
  return states.map((s) => `'${s}'`).join(', ');
}

/** Attempts that hold a lease: leased to an agent or running there. */
export const ACTIVE_ATTEMPTS_SQL = sqlStates(ACTIVE_ATTEMPT_STATES);

/** Tasks whose current attempt holds a lease. */
export const ACTIVE_TASKS_SQL = sqlStates([TaskState.Leased, TaskState.Running]);
