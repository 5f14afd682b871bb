import type { GroupSpec } from '../../protocol/groups.js';
import type { Instance } from '../providers/provider.js';

/**
 * What the autoscaler needs to know about one group at one moment. The master builds this from
 * its store and the agent hub (master/groups/group-store.ts); the autoscaler never reads the
 * store itself, so all of its logic runs in tests without a master.
 */

/** Queued tasks eligible for the group, grouped by shape (one row per job, say). */
export interface PendingWork {
  /** Slots each task needs (`-pe smp N`). */
  slots: number;
  /** How many tasks of this shape wait. */
  count: number;
  /** Expected runtime of one task when history knows it (mean of finished tasks of the job). */
  expectedSeconds?: number;
}

export interface RunningTask {
  attemptId: string;
  /** ms since epoch. */
  startedAt: number;
  slots: number;
  expectedSeconds?: number;
}

/** One agent of the group as the master sees it (connected or recently lost). */
export interface AgentView {
  agentId: string;
  /** Provider instance id, from the agent's hello (label `qfarm.instance-id`, or its name). */
  instanceId?: string;
  slots: number;
  connected: boolean;
  /** ms since epoch of the last frame from it. */
  lastSeen: number;
  running: RunningTask[];
  /** When it last became idle (no running tasks); undefined while busy. */
  idleSince?: number;
  /** Asked to stop taking work (scale-in or spot notice). */
  draining: boolean;
  /** A spot termination notice was seen (by the agent's spot watch): ISO time of release. */
  spotTerminationTime?: string;
  /** Already marked lost or interrupted by the master: do not report again. */
  lost?: boolean;
  interrupted?: boolean;
}

/** Memory of the autoscaler between passes (the master may persist it; losing it only resets cooldowns). */
export interface ScalingHistory {
  lastScaleOutAt?: number;
  lastScaleInAt?: number;
}

export interface GroupScalingState {
  spec: GroupSpec;
  /** What the provider says exists (provider.list), plus launches it has not listed yet. */
  instances: Instance[];
  agents: AgentView[];
  pending: PendingWork[];
  history: ScalingHistory;
}

export interface TerminateDecision {
  instanceId: string;
  reason: string;
}

export interface AgentDecision {
  agentId: string;
  instanceId?: string;
  reason: string;
}

export interface InterruptDecision extends AgentDecision {
  /** When the provider will take the machine (ms since epoch), if known. */
  terminationAt?: number;
  /** Running attempts that cannot finish in time: kill and requeue them as *interrupted*. */
  requeue: string[];
}

/** Everything one pass decided; providers carry out launch/terminate, the master the rest. */
export interface ScalingPlan {
  group: string;
  /** Machines the group should have (healthy, i.e. not interrupted, draining or stopping). */
  desired: number;
  /** Healthy machines counted this pass. */
  healthy: number;
  launch: number;
  terminate: TerminateDecision[];
  /** Busy victims: stop giving them work; they are terminated once idle. */
  drain: AgentDecision[];
  /** Agents whose machine is gone: lost now (their leases go back to the queue). */
  markLost: AgentDecision[];
  /** Agents on machines being reclaimed (spot). */
  markInterrupted: InterruptDecision[];
  /** One line per decision and per thing deliberately not done, for logs and `qfarm group show`. */
  reasons: string[];
}
