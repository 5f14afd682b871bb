import type { GroupSpec, ProviderKind } from '../../protocol/groups.js';

/**
 * The one interface every source of worker machines implements. The autoscaler decides, a
 * provider only carries out: launch N, terminate these, list what exists. Providers keep no
 * state the master needs: `list` asks the cloud (or the OS) every time.
 */
export interface Provider {
  readonly kind: ProviderKind;
  /**
   * Starts `count` machines for the group. `requestToken` makes the call idempotent: calling
   * again with the same token (a retry after a timeout) must not start a second batch.
   * Resolves with the instances the provider accepted (they may still be pending).
   */
  launch(group: GroupSpec, count: number, requestToken: string): Promise<Instance[]>;
  /** Releases these machines; ids that are already gone are not an error. */
  terminate(group: GroupSpec, instanceIds: string[]): Promise<void>;
  /** Every machine of the group the provider knows about, including pending and stopping ones. */
  list(group: GroupSpec): Promise<Instance[]>;
  /** Frees sockets, timers, child processes (local provider: keeps children unless told). */
  close?(): Promise<void>;
}

export const InstanceState = {
  Pending: 'pending',
  Running: 'running',
  Stopping: 'stopping',
  Gone: 'gone',
} as const;
export type InstanceState = (typeof InstanceState)[keyof typeof InstanceState];

export interface Instance {
  /** Provider id (`i-…` for ECS, the BatchCompute instance id, `local-<pid>` for local). */
  id: string;
  group: string;
  state: InstanceState;
  /** Name the agent on this machine registers with (hostname), when the provider knows it. */
  agentName?: string;
  privateIp?: string;
  instanceType?: string;
  /** ms since epoch. */
  launchedAt: number;
  spot: boolean;
  /** Hourly price when known (spot price limit, or the group's configured price). */
  hourlyPrice?: number;
  /** The provider says it is being reclaimed (ECS OperationLocks Recycling). */
  interrupted?: boolean;
  /** When the provider will release it by itself (ECS AutoReleaseTime, the leak guard), ms since epoch. */
  autoReleaseAt?: number;
}

/** Providers call out through this so the autoscaler and tests can see what happened. */
export interface ProviderLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: ProviderLogger = { info: () => {}, warn: () => {} };
