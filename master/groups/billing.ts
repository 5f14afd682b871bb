import type { BillingPolicy } from '../../protocol/groups.js';

/**
 * Billing arithmetic. ECS pay-as-you-go bills per second with a first minute minimum; some spot
 * regimes bill by the hour. A machine released early in a paid unit wastes the rest of it.
 */

/** Seconds already paid for but not yet used, at `now`. */
export function paidSecondsLeft(launchedAt: number, now: number, billing: BillingPolicy): number {
  const elapsed = Math.max(0, (now - launchedAt) / 1000);
  const billedUnits = Math.max(1, Math.ceil(elapsed / billing.unitSeconds));
  const billed = Math.max(billing.minimumSeconds, billedUnits * billing.unitSeconds);
  return Math.max(0, billed - elapsed);
}

/**
 * How close to the end of a paid unit an idle machine must be before it is released: for
 * hourly billing, the last 5 minutes (Brenda's prune waits until 55 min into the hour); for
 * per-second billing, the current (partial) unit.
 */
export function releaseMarginSeconds(billing: BillingPolicy): number {
  return billing.unitSeconds >= 600 ? Math.min(300, billing.unitSeconds * 0.1) : billing.unitSeconds;
}

/** True when releasing now wastes no more than the margin of paid time. */
export function atBillingBoundary(launchedAt: number, now: number, billing: BillingPolicy): boolean {
  return paidSecondsLeft(launchedAt, now, billing) <= releaseMarginSeconds(billing);
}
