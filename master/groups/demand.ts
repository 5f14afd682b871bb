import type { GroupSpec } from '../../protocol/groups.js';
import type { AgentView, PendingWork } from './scaling-state.js';

/**
 * How many machines the group's work calls for: the slots of running tasks on machines that
 * stay, plus the queued tasks that fit a machine of this group. When every queued task's
 * runtime is known, fewer machines may do: enough to drain the queue in targetDrainSeconds
 * (never more machines than there are tasks to run).
 */
export interface DemandResult {
  machines: number;
  runningSlots: number;
  queuedTasks: number;
  queuedSlots: number;
  /** Tasks that need more slots than one machine of the group has: they can never run here. */
  unfittable: number;
  reason: string;
}

export function machinesForDemand(spec: GroupSpec, pending: PendingWork[], agents: AgentView[]): DemandResult {
  const perMachine = spec.slotsPerInstance;
  const runningSlots = agents
    .filter((a) => a.connected && !a.lost && !a.interrupted && !a.spotTerminationTime)
    .reduce((sum, a) => sum + a.running.reduce((s, r) => s + r.slots, 0), 0);
  // Tasks from machines being reclaimed will be requeued: they need new capacity.
  const displacedSlots = agents
    .filter((a) => !a.lost && (a.interrupted || !!a.spotTerminationTime))
    .reduce((sum, a) => sum + a.running.reduce((s, r) => s + r.slots, 0), 0);
  let queuedTasks = 0;
  let queuedSlots = displacedSlots;
  let unfittable = 0;
  let knownWork = 0; // slot-seconds
  let allKnown = true;
  for (const w of pending) {
    if (w.count <= 0) continue;
    if (w.slots > perMachine) {
      unfittable += w.count;
      continue;
    }
    queuedTasks += w.count;
    queuedSlots += w.slots * w.count;
    if (w.expectedSeconds !== undefined && w.expectedSeconds > 0) knownWork += w.slots * w.count * w.expectedSeconds;
    else allKnown = false;
  }
  let queueMachines = Math.ceil(queuedSlots / perMachine);
  let how = `${queuedSlots} queued slots / ${perMachine} per machine`;
  if (allKnown && displacedSlots === 0 && queuedTasks > 0) {
    const byTime = Math.max(1, Math.ceil(knownWork / (perMachine * spec.autoscale.targetDrainSeconds)));
    if (byTime < queueMachines) {
      queueMachines = byTime;
      how = `${Math.round(knownWork)} slot-seconds of known work drained in ${spec.autoscale.targetDrainSeconds}s`;
    }
  }
  const runningMachines = Math.ceil(runningSlots / perMachine);
  return {
    machines: runningMachines + queueMachines,
    runningSlots,
    queuedTasks,
    queuedSlots,
    unfittable,
    reason: `demand ${runningMachines + queueMachines}: ${runningSlots} running slots (${runningMachines} machines) + ${how} (${queueMachines} machines)`,
  };
}
