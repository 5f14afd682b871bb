import type { AutoscalePolicy } from '../../protocol/groups.js';
import type { ScalingHistory } from './scaling-state.js';

/** Seconds until the group may grow again (0 = now). */
export function scaleOutWaitSeconds(history: ScalingHistory, policy: AutoscalePolicy, now: number): number {
  if (history.lastScaleOutAt === undefined) return 0;
  return Math.max(0, policy.scaleOutCooldownSeconds - (now - history.lastScaleOutAt) / 1000);
}

/** Seconds until the group may shrink again; a recent scale-out also holds scale-in back (no flapping). */
export function scaleInWaitSeconds(history: ScalingHistory, policy: AutoscalePolicy, now: number): number {
  const since = Math.max(history.lastScaleInAt ?? -Infinity, history.lastScaleOutAt ?? -Infinity);
  if (since === -Infinity) return 0;
  return Math.max(0, policy.scaleInCooldownSeconds - (now - since) / 1000);
}
