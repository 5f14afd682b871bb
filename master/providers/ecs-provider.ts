import type { GroupSpec } from '../../protocol/groups.js';
import { AlibabaRpcClient, ecsEndpoint } from './alibaba-client.js';
import type { AlibabaCredentials } from './alibaba-credentials.js';
import { ProviderConfigError, ProviderRequestError, StockOutError } from './errors.js';
import type { RetryPolicy } from '../../retry/retry-policy.js';
import { silentLogger, type Instance, type InstanceState, type Provider, type ProviderLogger } from './provider.js';
import { renderUserData, type BootstrapSettings } from './user-data.js';

/**
 * Worker machines as ECS instances: RunInstances (Amount, ClientToken, Tags, UserData, spot,
 * AutoReleaseTime), DeleteInstances (Force), DescribeInstances filtered by our tags, paged.
 */

export const ECS_API_VERSION = '2014-05-26';
export const TAG_FARM = 'qfarm:farm';
export const TAG_GROUP = 'qfarm:group';

export interface EcsProviderOptions {
  credentials: AlibabaCredentials;
  /** Tags every instance so that one account can host several farms. */
  farmId: string;
  bootstrap: BootstrapSettings;
  /** @default QFARM_ECS_ENDPOINT or https://ecs.<region>.aliyuncs.com */
  endpoint?: string;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** DescribeInstances MaxResults (≤100). @default 100 */
  pageSize?: number;
  /** Released by ECS after this long when the group does not say (leak guard). @default 24 */
  defaultAutoReleaseHours?: number;
  now?: () => number;
  logger?: ProviderLogger;
}

interface DescribedInstance {
  InstanceId: string;
  HostName?: string;
  Status: string;
  InstanceType?: string;
  CreationTime?: string;
  SpotStrategy?: string;
  SpotPriceLimit?: number;
  AutoReleaseTime?: string;
  VpcAttributes?: { PrivateIpAddress?: { IpAddress?: string[] } };
  OperationLocks?: { LockReason?: { LockReason: string }[] };
}

interface DescribeResponse {
  Instances?: { Instance?: DescribedInstance[] };
  NextToken?: string;
  TotalCount?: number;
}

export class EcsProvider implements Provider {
  readonly kind = 'ecs' as const;
  private readonly clients = new Map<string, AlibabaRpcClient>();
  private readonly now: () => number;
  private readonly logger: ProviderLogger;
  /**
   * Parameters sent per ClientToken: ECS refuses a reused token with different parameters
   * (IdempotentParameterMismatch), and AutoReleaseTime depends on the clock, so a retry in a
   * later pass must resend exactly what the first call sent.
   */
  private readonly sentParams = new Map<string, { params: Record<string, unknown>; at: number }>();

  constructor(private readonly options: EcsProviderOptions) {
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(options.farmId)) {
      throw new ProviderConfigError(`farmId "${options.farmId}" must be 1-64 characters of [A-Za-z0-9_.:-]`, { provider: 'ecs' });
    }
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? silentLogger;
  }

  private placement(group: GroupSpec): NonNullable<GroupSpec['ecs']> {
    if (!group.ecs) throw new ProviderConfigError('the group has no ecs placement (regionId, vSwitchId, securityGroupId)', { provider: 'ecs', group: group.name });
    return group.ecs;
  }

  /** One client per region endpoint: pop-core keeps a keep-alive agent per client. */
  private client(regionId: string): AlibabaRpcClient {
    let c = this.clients.get(regionId);
    if (!c) {
      c = new AlibabaRpcClient({
        endpoint: this.options.endpoint ?? ecsEndpoint(regionId),
        apiVersion: ECS_API_VERSION,
        credentials: this.options.credentials,
        provider: 'ecs',
        logger: this.logger,
        ...(this.options.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}),
        ...(this.options.retry ? { retry: this.options.retry } : {}),
      });
      this.clients.set(regionId, c);
    }
    return c;
  }

  async launch(group: GroupSpec, count: number, requestToken: string): Promise<Instance[]> {
    if (count <= 0) return [];
    // RunInstances takes Amount ≤ 100: larger launches go in batches, each with its own token.
    if (count > 100) {
      const out: Instance[] = [];
      for (let b = 0; b * 100 < count; b++) out.push(...(await this.launch(group, Math.min(100, count - b * 100), `${requestToken.slice(0, 56)}-b${b}`)));
      return out;
    }
    const ecs = this.placement(group);
    const userData = Buffer.from(renderUserData(group, this.options.bootstrap), 'utf8').toString('base64');
    let lastStockOut: StockOutError | undefined;
    // Types in order of preference; each fallback gets its own token (a different request to ECS).
    for (const [i, instanceType] of group.instanceTypes.entries()) {
      const clientToken = clientTokenFor(requestToken, i);
      const params = this.paramsFor(clientToken, () => this.runParams(group, ecs, instanceType, count, clientToken, userData));
      try {
        const res = await this.client(ecs.regionId).request<{ InstanceIdSets?: { InstanceIdSet?: string[] } }>('RunInstances', params, { method: 'POST', group: group.name });
        const ids = res.InstanceIdSets?.InstanceIdSet ?? [];
        this.logger.info('ecs instances launched', { group: group.name, instanceType, count: ids.length, clientToken });
        const launchedAt = this.now();
        const autoReleaseAt = Date.parse(String(params.AutoReleaseTime));
        return ids.map((id) => ({
          id,
          autoReleaseAt,
          group: group.name,
          state: 'pending' as const,
          agentName: id,
          instanceType,
          launchedAt,
          spot: group.spot.strategy !== 'none',
          ...(priceOf(group) === undefined ? {} : { hourlyPrice: priceOf(group)! }),
        }));
      } catch (err) {
        if (err instanceof StockOutError && i + 1 < group.instanceTypes.length) {
          this.logger.warn('instance type out of stock, trying the next one', { group: group.name, instanceType, next: group.instanceTypes[i + 1] });
          lastStockOut = err;
          continue;
        }
        throw err;
      }
    }
    throw lastStockOut ?? new ProviderRequestError('no instance type to launch', { provider: 'ecs', group: group.name });
  }

  private paramsFor(clientToken: string, build: () => Record<string, unknown>): Record<string, unknown> {
    const now = this.now();
    for (const [token, entry] of this.sentParams) if (now - entry.at > 24 * 3600_000) this.sentParams.delete(token);
    const params = build();
    const seen = this.sentParams.get(clientToken);
    if (seen) {
      if (seen.params.Amount !== params.Amount || seen.params.InstanceType !== params.InstanceType) {
        throw new ProviderRequestError(`request token ${clientToken} was used before for ${String(seen.params.Amount)} × ${String(seen.params.InstanceType)}: use a new token for a different launch`, { provider: 'ecs' });
      }
      return seen.params;
    }
    this.sentParams.set(clientToken, { params, at: now });
    return params;
  }

  private runParams(group: GroupSpec, ecs: NonNullable<GroupSpec['ecs']>, instanceType: string, count: number, clientToken: string, userData: string): Record<string, unknown> {
    const releaseHours = ecs.autoReleaseHours ?? this.options.defaultAutoReleaseHours ?? 24;
    const params: Record<string, unknown> = {
      RegionId: ecs.regionId,
      ImageId: group.image,
      InstanceType: instanceType,
      SecurityGroupId: ecs.securityGroupId,
      VSwitchId: ecs.vSwitchId,
      Amount: count,
      ClientToken: clientToken,
      InstanceName: `qfarm-${group.name}`,
      InstanceChargeType: 'PostPaid',
      UserData: userData,
      AutoReleaseTime: ecsTime(this.now() + releaseHours * 3600_000),
      Tag: [
        { Key: TAG_FARM, Value: this.options.farmId },
        { Key: TAG_GROUP, Value: group.name },
      ],
      SpotStrategy: { none: 'NoSpot', 'price-limit': 'SpotWithPriceLimit', 'as-price-go': 'SpotAsPriceGo' }[group.spot.strategy],
    };
    if (group.spot.strategy === 'price-limit') params.SpotPriceLimit = group.spot.maxPrice;
    if (ecs.zoneId) params.ZoneId = ecs.zoneId;
    if (ecs.ramRoleName) params.RamRoleName = ecs.ramRoleName;
    if (ecs.keyPairName) params.KeyPairName = ecs.keyPairName;
    if (ecs.systemDiskCategory) params['SystemDisk.Category'] = ecs.systemDiskCategory;
    if (ecs.systemDiskSizeGiB) params['SystemDisk.Size'] = ecs.systemDiskSizeGiB;
    return params;
  }

  async terminate(group: GroupSpec, instanceIds: string[]): Promise<void> {
    if (instanceIds.length === 0) return;
    const ecs = this.placement(group);
    // Only ever delete machines that carry this farm's and group's tags: a wrong id from a
    // confused caller must not release someone else's server.
    const ours = new Set((await this.list(group)).map((i) => i.id));
    const targets = instanceIds.filter((id) => ours.has(id));
    const skipped = instanceIds.filter((id) => !ours.has(id));
    if (skipped.length) this.logger.info('instances already gone or not tagged for this group, not deleted', { group: group.name, ids: skipped });
    for (let i = 0; i < targets.length; i += 100) {
      const batch = targets.slice(i, i + 100);
      await this.client(ecs.regionId).request('DeleteInstances', { RegionId: ecs.regionId, InstanceId: batch, Force: true }, { method: 'POST', group: group.name });
      this.logger.info('ecs instances deleted', { group: group.name, ids: batch });
    }
  }

  async list(group: GroupSpec): Promise<Instance[]> {
    const ecs = this.placement(group);
    const out: Instance[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const params: Record<string, unknown> = {
        RegionId: ecs.regionId,
        MaxResults: this.options.pageSize ?? 100,
        Tag: [
          { Key: TAG_FARM, Value: this.options.farmId },
          { Key: TAG_GROUP, Value: group.name },
        ],
      };
      if (nextToken) params.NextToken = nextToken;
      const res = await this.client(ecs.regionId).request<DescribeResponse>('DescribeInstances', params, { method: 'POST', group: group.name });
      for (const d of res.Instances?.Instance ?? []) out.push(this.toInstance(group, d));
      nextToken = res.NextToken || undefined;
      if (!nextToken) return out;
    }
    throw new ProviderRequestError('DescribeInstances returned more than 1000 pages', { provider: 'ecs', group: group.name });
  }

  private toInstance(group: GroupSpec, d: DescribedInstance): Instance {
    const recycling = (d.OperationLocks?.LockReason ?? []).some((l) => l.LockReason === 'Recycling');
    const spot = !!d.SpotStrategy && d.SpotStrategy !== 'NoSpot';
    const price = d.SpotPriceLimit && d.SpotPriceLimit > 0 ? d.SpotPriceLimit : priceOf(group);
    const ip = d.VpcAttributes?.PrivateIpAddress?.IpAddress?.[0];
    const autoRelease = d.AutoReleaseTime ? Date.parse(d.AutoReleaseTime) : NaN;
    return {
      id: d.InstanceId,
      group: group.name,
      state: recycling ? 'stopping' : ecsState(d.Status),
      agentName: d.InstanceId,
      ...(ip ? { privateIp: ip } : {}),
      ...(d.InstanceType ? { instanceType: d.InstanceType } : {}),
      launchedAt: d.CreationTime ? Date.parse(d.CreationTime) : this.now(),
      spot,
      ...(price === undefined ? {} : { hourlyPrice: price }),
      ...(recycling ? { interrupted: true } : {}),
      ...(Number.isFinite(autoRelease) ? { autoReleaseAt: autoRelease } : {}),
    };
  }
}

function ecsState(status: string): InstanceState {
  switch (status) {
    case 'Pending':
    case 'Starting':
      return 'pending';
    case 'Running':
      return 'running';
    case 'Stopping':
    case 'Stopped':
      return 'stopping';
    default:
      return 'pending';
  }
}

function priceOf(group: GroupSpec): number | undefined {
  return group.hourlyPrice ?? undefined;
}

/** ECS wants UTC `yyyy-MM-ddTHH:mm:ssZ` (no milliseconds). */
export function ecsTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** ClientToken: ≤64 ASCII; the same logical request always maps to the same token. */
export function clientTokenFor(requestToken: string, typeIndex: number): string {
  const safe = requestToken.replace(/[^A-Za-z0-9_.-]/g, '_');
  const suffix = typeIndex === 0 ? '' : `-t${typeIndex}`;
  return (safe.slice(0, 64 - suffix.length) + suffix).slice(0, 64);
}
