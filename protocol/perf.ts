// The builders one by one, not TypeBox's `Type` object: the dashboard bundles this file too.
import * as Type from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';

/**
 * `qfarm perf` (`GET /perf`), after `brenda-tool perf`: what each instance type did for its
 * time and money. Schemas only (no compiled validator), so the dashboard's accounting page
 * can check answers without TypeBox's compiler; the CLI's validator is in groupValidators.
 */

/** One instance type's line of `qfarm perf`. */
export const PerfRow = Type.Object({
  instanceType: Type.String(),
  hosts: Type.Integer(),
  /** Tasks that ended with exit status 0 (a failed task is not throughput). */
  tasks: Type.Integer(),
  /** Task-hours actually spent (sum of task wall time). */
  taskHours: Type.Number(),
  /** Host-hours the hosts were up from their first task's start to their last task's end. */
  hostHours: Type.Number(),
  /** Tasks per host-hour. */
  tasksPerHour: Type.Number(),
  /** Tasks per unit of money; null when a host's price is unknown. */
  tasksPerDollar: Type.Union([Type.Number(), Type.Null()]),
  cost: Type.Union([Type.Number(), Type.Null()]),
});
export type PerfRow = Static<typeof PerfRow>;

/** `qfarm perf`: tasks/hour and tasks/$ by instance type. */
export const PerfResponse = Type.Object({ rows: Type.Array(PerfRow) });
export type PerfResponse = Static<typeof PerfResponse>;
