import { scaleInWaitSeconds, scaleOutWaitSeconds } from './cooldown.js';
import { machinesForDemand } from './demand.js';
import { reconcile } from './reconcile.js';
import type { GroupScalingState, ScalingPlan, TerminateDecision } from './scaling-state.js';
import { spotInterruptions } from './spot-interruptions.js';
import { chooseVictims } from './victims.js';

/** Workers are retired this long before the provider's auto-release (ECS AutoReleaseTime). */
export const RETIRE_BEFORE_AUTO_RELEASE_MS = 60 * 60_000;

/**
 * One autoscaler pass for one group: pure, clock passed in. Order matters: reconcile first
 * (what really exists), then spot notices (what is about to go), then size the group from the
 * work against what remains healthy, then pick victims if it is too big.
 */
export function planGroup(state: GroupScalingState, now: number): ScalingPlan {
  const { spec, history } = state;
  const policy = spec.autoscale;
  const reasons: string[] = [];
  const rec = reconcile(spec, state.instances, state.agents, now);
  reasons.push(...rec.reasons);
  const interrupts = spotInterruptions(rec.pairs, now);
  for (const i of interrupts) reasons.push(i.reason);
  const interruptedIds = new Set(interrupts.map((i) => i.instanceId));

  const terminate: TerminateDecision[] = [...rec.release];
  const releasing = new Set(terminate.map((t) => t.instanceId));

  // Victims drained on an earlier pass leave once their last task is done.
  for (const { instance, agent } of rec.pairs) {
    if (agent?.draining && agent.connected && agent.running.length === 0 && !agent.spotTerminationTime && !instance.interrupted && !releasing.has(instance.id) && instance.state !== 'stopping') {
      const r = `instance ${instance.id}: drained and idle, releasing it`;
      terminate.push({ instanceId: instance.id, reason: r });
      releasing.add(instance.id);
      reasons.push(r);
    }
  }

  // A machine near its provider-side auto-release (the leak guard) is retired like a scale-in
  // victim: drained so its tasks finish, and replaced, instead of being cut off mid-task.
  const retireMs = RETIRE_BEFORE_AUTO_RELEASE_MS;
  const retiring = new Set<string>();
  const drain: ScalingPlan['drain'] = [];
  for (const { instance, agent } of rec.pairs) {
    if (instance.autoReleaseAt === undefined || instance.autoReleaseAt - now > retireMs || releasing.has(instance.id)) continue;
    retiring.add(instance.id);
    if (agent && !agent.draining && agent.connected) {
      const r = `instance ${instance.id} reaches its auto-release time ${new Date(instance.autoReleaseAt).toISOString()} within ${retireMs / 60_000} min: draining and replacing it (raise ecs.autoReleaseHours for longer-lived workers)`;
      drain.push({ agentId: agent.agentId, instanceId: instance.id, reason: r });
      reasons.push(r);
    }
  }

  const healthy = rec.pairs.filter(
    ({ instance, agent }) =>
      (instance.state === 'pending' || instance.state === 'running') &&
      !instance.interrupted &&
      !interruptedIds.has(instance.id) &&
      !releasing.has(instance.id) &&
      !retiring.has(instance.id) &&
      !agent?.draining &&
      !agent?.interrupted &&
      !agent?.spotTerminationTime,
  );
  const unmanaged = rec.unmanagedAgents.filter((a) => !a.draining && !a.spotTerminationTime && !a.interrupted);
  if (unmanaged.length) reasons.push(`${unmanaged.length} connected agent(s) with no ${spec.provider} machine count as capacity but are never scaled in: ${unmanaged.map((a) => a.agentId).join(', ')}`);
  const healthyCount = healthy.length + unmanaged.length;

  const demand = machinesForDemand(spec, state.pending, state.agents);
  if (demand.unfittable > 0) reasons.push(`${demand.unfittable} queued task(s) need more than ${spec.slotsPerInstance} slots and can never run in group ${spec.name}`);
  const clamp = (n: number): number => Math.min(spec.maxSize, Math.max(spec.minSize, n));
  const desired = policy.enabled ? clamp(demand.machines) : clamp(spec.desiredSize);
  reasons.push(policy.enabled ? `${demand.reason}; clamped to [${spec.minSize}, ${spec.maxSize}] → ${desired}` : `autoscaling off: desired ${desired} (group's desiredSize)`);

  let launch = 0;
  if (desired > healthyCount) {
    const need = desired - healthyCount;
    // Replacing machines that vanished or are being reclaimed, or reaching the minimum, is not
    // a scale-out decision: no cooldown.
    const topUp = Math.min(need, interrupts.length + rec.release.length + retiring.size + Math.max(0, spec.minSize - healthyCount));
    const wait = scaleOutWaitSeconds(history, policy, now);
    const allowed = wait > 0 ? topUp : need;
    launch = Math.min(allowed, policy.maxLaunchPerStep);
    if (launch > 0) reasons.push(`launch ${launch}: ${healthyCount} healthy, ${desired} wanted${topUp > 0 ? ` (${topUp} to replace or reach min)` : ''}`);
    if (allowed < need) reasons.push(`scale out of ${need - allowed} more held by cooldown for ${Math.ceil(wait)}s`);
    if (launch < allowed) reasons.push(`launch capped at ${policy.maxLaunchPerStep} per step`);
  } else if (desired < healthyCount) {
    const wait = scaleInWaitSeconds(history, policy, now);
    if (wait > 0) {
      reasons.push(`scale in by ${healthyCount - desired} held by cooldown for ${Math.ceil(wait)}s`);
    } else {
      const choice = chooseVictims(spec, healthy, healthyCount - desired, now);
      terminate.push(...choice.terminate);
      drain.push(...choice.drain);
      reasons.push(...choice.terminate.map((t) => t.reason), ...choice.drain.map((d) => d.reason), ...choice.kept);
    }
  }
  return { group: spec.name, desired, healthy: healthyCount, launch, terminate, drain, markLost: rec.markLost, markInterrupted: interrupts, reasons };
}
