import type { GroupSpec } from '../../protocol/groups.js';
import { AlibabaRoaClient, batchComputeEndpoint } from './alibaba-client.js';
import type { AlibabaCredentials } from './alibaba-credentials.js';
import { ProviderConfigError, ProviderError, ProviderRequestError } from './errors.js';
import type { RetryPolicy } from '../../retry/retry-policy.js';
import { silentLogger, type Instance, type InstanceState, type Provider, type ProviderLogger } from './provider.js';

/**
 * Worker machines as a group of a BatchCompute cluster (ROA API 2015-11-11): the group's
 * DesiredVMCount is raised to launch; to remove chosen machines, DesiredVMCount is lowered
 * first, then each chosen instance is deleted. BatchCompute is deprecated by Alibaba: this is
 * the secondary cloud path, kept behind the same interface as ECS. The worker image must carry
 * both BatchCompute's agent and qfarm's (its bootstrap reads the master from the image or env).
 */

export const BATCHCOMPUTE_API_VERSION = '2015-11-11';

export interface BatchComputeProviderOptions {
  credentials: AlibabaCredentials;
  endpoint?: string;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** ListClusterInstances MaxItemCount (≤100). @default 100 */
  pageSize?: number;
  now?: () => number;
  logger?: ProviderLogger;
}

interface ClusterGroupView {
  DesiredVMCount?: number;
  ActualVMCount?: number;
  InstanceType?: string;
  ResourceType?: string;
  SpotPriceLimit?: number;
}

interface ClusterInstanceView {
  Id: string;
  State?: string;
  IpAddress?: string;
  EcsInstanceId?: string;
  HostName?: string;
  CreationTime?: string;
}

export class BatchComputeProvider implements Provider {
  readonly kind = 'batchcompute' as const;
  private readonly clients = new Map<string, AlibabaRoaClient>();
  private readonly logger: ProviderLogger;
  private readonly now: () => number;
  /** requestToken → the DesiredVMCount it set, so a repeated launch does not add twice. */
  private readonly applied = new Map<string, { target: number; at: number }>();

  constructor(private readonly options: BatchComputeProviderOptions) {
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
  }

  private placement(group: GroupSpec): NonNullable<GroupSpec['batchcompute']> {
    if (!group.batchcompute) throw new ProviderConfigError('the group has no batchcompute placement (clusterId, groupName)', { provider: 'batchcompute', group: group.name });
    return group.batchcompute;
  }

  private client(group: GroupSpec): AlibabaRoaClient {
    const endpoint = this.options.endpoint ?? batchComputeEndpoint(this.placement(group).regionId);
    let c = this.clients.get(endpoint);
    if (!c) {
      c = new AlibabaRoaClient({
        endpoint,
        apiVersion: BATCHCOMPUTE_API_VERSION,
        credentials: this.options.credentials,
        provider: 'batchcompute',
        logger: this.logger,
        ...(this.options.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}),
        ...(this.options.retry ? { retry: this.options.retry } : {}),
      });
      this.clients.set(endpoint, c);
    }
    return c;
  }

  private paths(group: GroupSpec): { cluster: string; instances: string } {
    const p = this.placement(group);
    const cluster = `/clusters/${encodeURIComponent(p.clusterId)}`;
    return { cluster, instances: `${cluster}/groups/${encodeURIComponent(p.groupName)}/instances` };
  }

  private async groupView(group: GroupSpec): Promise<ClusterGroupView> {
    const res = await this.client(group).request<{ Groups?: Record<string, ClusterGroupView> }>('GET', this.paths(group).cluster, { group: group.name });
    const view = res.Groups?.[this.placement(group).groupName];
    if (!view) {
      throw new ProviderRequestError(`cluster ${this.placement(group).clusterId} has no group ${this.placement(group).groupName}`, { provider: 'batchcompute', group: group.name });
    }
    return view;
  }

  private async setDesired(group: GroupSpec, desired: number): Promise<number> {
    const name = this.placement(group).groupName;
    try {
      await this.client(group).request('PUT', this.paths(group).cluster, { body: { Groups: { [name]: { DesiredVMCount: desired } } }, group: group.name });
      return desired;
    } catch (err) {
      // The documented range is [1, 65536]: a group cannot be emptied by resizing.
      if (desired === 0 && err instanceof ProviderError && err.code === 'InvalidDesiredVMCount') {
        this.logger.warn('BatchCompute refuses DesiredVMCount 0: one machine stays; delete the cluster to scale to zero', { group: group.name });
        await this.client(group).request('PUT', this.paths(group).cluster, { body: { Groups: { [name]: { DesiredVMCount: 1 } } }, group: group.name });
        return 1;
      }
      throw err;
    }
  }

  async launch(group: GroupSpec, count: number, requestToken: string): Promise<Instance[]> {
    if (count <= 0) return [];
    const before = new Set((await this.list(group)).map((i) => i.id));
    const seen = this.applied.get(requestToken);
    let target: number;
    if (seen) {
      target = seen.target;
    } else {
      const view = await this.groupView(group);
      target = (view.DesiredVMCount ?? 0) + count;
      this.applied.set(requestToken, { target, at: this.now() });
    }
    // An absolute size: sending it twice is harmless, which is what makes retries safe here.
    await this.setDesired(group, target);
    const after = await this.list(group);
    return seen ? after.slice(-count) : after.filter((i) => !before.has(i.id));
  }

  async terminate(group: GroupSpec, instanceIds: string[]): Promise<void> {
    if (instanceIds.length === 0) return;
    const current = await this.list(group);
    const ours = new Set(current.map((i) => i.id));
    const targets = instanceIds.filter((id) => ours.has(id));
    if (targets.length === 0) return;
    const view = await this.groupView(group);
    const desired = Math.max(0, (view.DesiredVMCount ?? current.length) - targets.length);
    // Whether lowering DesiredVMCount lets BatchCompute pick which VMs go is not documented, so
    // the chosen VMs are deleted first and the count lowered after (nothing left to pick).
    // Emptying the group is the exception: the service may refuse 0 and keep one.
    let toDelete = targets;
    if (desired === 0) {
      const kept = await this.setDesired(group, 0);
      if (kept > 0) toDelete = targets.slice(0, targets.length - kept);
    }
    for (const id of toDelete) {
      try {
        await this.client(group).request('DELETE', `${this.paths(group).instances}/${encodeURIComponent(id)}`, { group: group.name });
      } catch (err) {
        if (err instanceof ProviderError && /NotFound$/.test(err.code ?? '')) continue;
        throw err;
      }
    }
    if (desired > 0) await this.setDesired(group, desired);
  }

  async list(group: GroupSpec): Promise<Instance[]> {
    const out: Instance[] = [];
    let marker = '';
    for (let page = 0; page < 1000; page++) {
      const query: Record<string, string | number> = { MaxItemCount: this.options.pageSize ?? 100 };
      if (marker) query.Marker = marker;
      const res = await this.client(group).request<{ Items?: ClusterInstanceView[]; NextMarker?: string }>('GET', this.paths(group).instances, { query, group: group.name });
      for (const item of res.Items ?? []) out.push(this.toInstance(group, item));
      marker = res.NextMarker ?? '';
      if (!marker) return out;
    }
    throw new ProviderRequestError('ListClusterInstances returned more than 1000 pages', { provider: 'batchcompute', group: group.name });
  }

  private toInstance(group: GroupSpec, i: ClusterInstanceView): Instance {
    return {
      id: i.Id,
      group: group.name,
      state: bcState(i.State),
      agentName: i.EcsInstanceId || i.HostName || i.Id,
      ...(i.IpAddress ? { privateIp: i.IpAddress } : {}),
      ...(group.instanceTypes[0] ? { instanceType: group.instanceTypes[0] } : {}),
      launchedAt: i.CreationTime ? Date.parse(i.CreationTime) : this.now(),
      spot: group.spot.strategy !== 'none',
      ...(group.hourlyPrice === null ? {} : { hourlyPrice: group.hourlyPrice }),
    };
  }
}

/** The full list of BatchCompute instance states is not documented: unknown ones count as not ready. */
function bcState(state: string | undefined): InstanceState {
  switch (state) {
    case 'Running':
    case 'Active':
      return 'running';
    case 'Stopping':
    case 'Deleting':
      return 'stopping';
    case 'Stopped':
    case 'Deleted':
      return 'gone';
    default:
      return 'pending';
  }
}
