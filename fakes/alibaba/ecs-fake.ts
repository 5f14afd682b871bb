import { randomBytes, randomUUID } from 'node:crypto';
import { FakeApiError } from './api-error.js';

/**
 * The ECS RPC actions qfarm uses, with the documented request parameters and response shapes
 * (RunInstances, DeleteInstances, DescribeInstances), kept in memory.
 */

export interface FakeEcsInstance {
  InstanceId: string;
  RegionId: string;
  ZoneId: string;
  InstanceType: string;
  ImageId: string;
  /** Pending → Running; Stopped while being reclaimed. */
  Status: 'Pending' | 'Starting' | 'Running' | 'Stopping' | 'Stopped';
  HostName: string;
  InstanceName: string;
  CreationTime: string;
  createdAtMs: number;
  SpotStrategy: string;
  SpotPriceLimit: number;
  AutoReleaseTime: string;
  InstanceChargeType: string;
  VSwitchId: string;
  SecurityGroupId: string;
  PrivateIp: string;
  Tags: { Key: string; Value: string }[];
  /** Decoded user data (what the metadata service serves at /latest/user-data). */
  userData: string;
  /** ISO time of release when a spot interruption was announced. */
  terminationTime: string | undefined;
  RamRoleName: string;
}

export interface FakeEcsOptions {
  /** When set, RunInstances with another ImageId fails with InvalidImageId.NotFound. */
  knownImages?: string[];
  /** Instance types sold out: OperationDenied.NoStock. */
  noStockTypes?: string[];
  /** Total live instances allowed: beyond it QuotaExceed.ElasticQuota. */
  quota?: number;
  /** Instances stay Pending this long before Running. @default 0 */
  bootMs?: number;
  now?: () => number;
}

export class FakeEcs {
  readonly instances = new Map<string, FakeEcsInstance>();
  /** ClientToken → the answer given the first time (ECS returns the same for a retry). */
  readonly clientTokens = new Map<string, { fingerprint: string; ids: string[] }>();
  /** Every call, for request-shape assertions. */
  readonly calls: { action: string; params: Record<string, string> }[] = [];
  private ipCounter = 10;
  private readonly now: () => number;

  constructor(private readonly options: FakeEcsOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  handle(action: string, params: Record<string, string>): Record<string, unknown> {
    this.calls.push({ action, params });
    switch (action) {
      case 'RunInstances':
        return this.runInstances(params);
      case 'DeleteInstances':
        return this.deleteInstances(params);
      case 'DescribeInstances':
        return this.describeInstances(params);
      default:
        throw new FakeApiError(400, 'InvalidAction.NotFound', `Specified api "${action}" is not found, please check your url and method.`);
    }
  }

  /** Announces a spot reclaim: metadata shows the time, DescribeInstances the Recycling lock. */
  interrupt(instanceId: string, inMs = 5 * 60_000): string {
    const inst = this.instances.get(instanceId);
    if (!inst) throw new Error(`fake ECS: no instance ${instanceId}`);
    inst.terminationTime = new Date(this.now() + inMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return inst.terminationTime;
  }

  /** The reclaim itself: the instance disappears, as ECS releases it. */
  reclaim(instanceId: string): void {
    this.instances.delete(instanceId);
  }

  private liveStatus(inst: FakeEcsInstance): FakeEcsInstance['Status'] {
    if (inst.terminationTime) return 'Stopped';
    return this.now() - inst.createdAtMs >= (this.options.bootMs ?? 0) ? 'Running' : 'Pending';
  }

  private runInstances(p: Record<string, string>): Record<string, unknown> {
    for (const name of ['RegionId', 'InstanceType', 'ImageId']) {
      if (!p[name]) throw new FakeApiError(400, `Missing${name}`, `${name} is mandatory for this action.`);
    }
    const amount = Number(p.Amount ?? '1');
    if (!Number.isInteger(amount) || amount < 1 || amount > 100) {
      throw new FakeApiError(400, 'InvalidParameter.Amount', 'The specified parameter Amount is not valid: 1-100.');
    }
    const tags = collectTags(p);
    const fingerprint = JSON.stringify({ ...p, SignatureNonce: '', Timestamp: '', Signature: '' });
    if (p.ClientToken) {
      const seen = this.clientTokens.get(p.ClientToken);
      if (seen) {
        if (seen.fingerprint !== fingerprint) {
          throw new FakeApiError(400, 'IdempotentParameterMismatch', 'The specified parameters are different from before with the same ClientToken.');
        }
        return { RequestId: randomUUID().toUpperCase(), InstanceIdSets: { InstanceIdSet: seen.ids } };
      }
    }
    if (this.options.knownImages && !this.options.knownImages.includes(p.ImageId!)) {
      throw new FakeApiError(404, 'InvalidImageId.NotFound', `The specified ImageId does not exist.`);
    }
    if (this.options.noStockTypes?.includes(p.InstanceType!)) {
      throw new FakeApiError(403, 'OperationDenied.NoStock', 'The requested resource is sold out in the specified zone; try other types of resources or other regions and zones.');
    }
    if (this.options.quota !== undefined && this.instances.size + amount > this.options.quota) {
      throw new FakeApiError(403, 'QuotaExceed.ElasticQuota', `The number of vCPUs assigned to the ECS instances has exceeded the quota in the zone. Quota ${this.options.quota} instances.`);
    }
    const spot = p.SpotStrategy ?? 'NoSpot';
    if (!['NoSpot', 'SpotWithPriceLimit', 'SpotAsPriceGo'].includes(spot)) {
      throw new FakeApiError(400, 'InvalidSpotStrategy', `The specified SpotStrategy is not valid.`);
    }
    if (spot === 'SpotWithPriceLimit' && !(Number(p.SpotPriceLimit) > 0)) {
      throw new FakeApiError(400, 'InvalidSpotPriceLimit', 'The specified SpotPriceLimit is not valid.');
    }
    if (p.AutoReleaseTime) {
      const t = Date.parse(p.AutoReleaseTime);
      if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?Z$/.test(p.AutoReleaseTime) || !(t >= this.now() + 30 * 60_000 - 60_000)) {
        throw new FakeApiError(400, 'InvalidAutoReleaseTime.Malformed', 'AutoReleaseTime must be UTC yyyy-MM-ddTHH:mm:ssZ and at least 30 minutes ahead.');
      }
    }
    let userData = '';
    if (p.UserData) {
      userData = Buffer.from(p.UserData, 'base64').toString('utf8');
      if (Buffer.from(userData, 'utf8').toString('base64') !== p.UserData.replace(/\s/g, '')) {
        throw new FakeApiError(400, 'InvalidUserData.Base64FormatInvalid', 'The specified UserData is not valid Base64.');
      }
      if (Buffer.byteLength(userData) > 16 * 1024) throw new FakeApiError(400, 'InvalidUserData.SizeExceeded', 'The specified UserData exceeds 16 KB.');
    }
    const ids: string[] = [];
    for (let i = 0; i < amount; i++) {
      const id = `i-${randomBytes(10).toString('hex')}`;
      const now = this.now();
      this.instances.set(id, {
        InstanceId: id,
        RegionId: p.RegionId!,
        ZoneId: p.ZoneId ?? `${p.RegionId}-a`,
        InstanceType: p.InstanceType!,
        ImageId: p.ImageId!,
        Status: 'Pending',
        HostName: p.HostName ?? `iZ${id.slice(2, 14)}Z`,
        InstanceName: p.InstanceName ?? id,
        CreationTime: new Date(now).toISOString().slice(0, 16) + 'Z',
        createdAtMs: now,
        SpotStrategy: spot,
        SpotPriceLimit: Number(p.SpotPriceLimit ?? 0),
        AutoReleaseTime: p.AutoReleaseTime ?? '',
        InstanceChargeType: p.InstanceChargeType ?? 'PostPaid',
        VSwitchId: p.VSwitchId ?? '',
        SecurityGroupId: p.SecurityGroupId ?? '',
        PrivateIp: `192.168.0.${this.ipCounter++ % 250}`,
        Tags: tags,
        userData,
        terminationTime: undefined,
        RamRoleName: p.RamRoleName ?? '',
      });
      ids.push(id);
    }
    if (p.ClientToken) this.clientTokens.set(p.ClientToken, { fingerprint, ids });
    return { RequestId: randomUUID().toUpperCase(), InstanceIdSets: { InstanceIdSet: ids }, TradePrice: 0.165 * amount };
  }

  private deleteInstances(p: Record<string, string>): Record<string, unknown> {
    const ids = Object.keys(p)
      .filter((k) => /^InstanceId\.\d+$/.test(k))
      .map((k) => p[k]!);
    if (ids.length === 0) throw new FakeApiError(400, 'MissingInstanceId', 'InstanceId.N is mandatory for this action.');
    if (ids.length > 100) throw new FakeApiError(400, 'InvalidParameter.TooManyInstanceIds', 'At most 100 InstanceId.N.');
    for (const id of ids) {
      const inst = this.instances.get(id);
      if (!inst) throw new FakeApiError(404, 'InvalidInstanceId.NotFound', `The specified InstanceId ${id} does not exist.`);
      if (this.liveStatus(inst) === 'Running' && p.Force !== 'true') {
        throw new FakeApiError(403, 'IncorrectInstanceStatus', 'The current status of the resource does not support this operation (Running instances need Force=true).');
      }
    }
    for (const id of ids) this.instances.delete(id);
    return { RequestId: randomUUID().toUpperCase() };
  }

  private describeInstances(p: Record<string, string>): Record<string, unknown> {
    if (!p.RegionId) throw new FakeApiError(400, 'MissingRegionId', 'RegionId is mandatory for this action.');
    const tags = collectTags(p);
    let ids: string[] | undefined;
    if (p.InstanceIds !== undefined) {
      try {
        ids = JSON.parse(p.InstanceIds) as string[];
        if (!Array.isArray(ids)) throw new Error('not an array');
      } catch {
        throw new FakeApiError(400, 'InvalidInstanceIds.Malformed', 'The specified InstanceIds is not a JSON array.');
      }
    }
    let all = [...this.instances.values()]
      .filter((i) => i.RegionId === p.RegionId)
      .filter((i) => tags.every((t) => i.Tags.some((it) => it.Key === t.Key && (t.Value === undefined || it.Value === t.Value))))
      .filter((i) => !ids || ids.includes(i.InstanceId))
      .filter((i) => !p.Status || this.liveStatus(i) === p.Status);
    all = all.sort((a, b) => a.createdAtMs - b.createdAtMs || a.InstanceId.localeCompare(b.InstanceId));
    let page: FakeEcsInstance[];
    const extra: Record<string, unknown> = {};
    if (p.NextToken !== undefined || p.MaxResults !== undefined) {
      const size = clampPage(p.MaxResults, 10, 'MaxResults');
      const start = p.NextToken ? Number(Buffer.from(p.NextToken, 'base64url').toString()) : 0;
      if (!Number.isInteger(start) || start < 0) throw new FakeApiError(400, 'InvalidNextToken', 'The specified NextToken is not valid.');
      page = all.slice(start, start + size);
      extra.NextToken = start + size < all.length ? Buffer.from(String(start + size)).toString('base64url') : '';
      extra.MaxResults = size;
    } else {
      const size = clampPage(p.PageSize, 10, 'PageSize');
      const number = Number(p.PageNumber ?? '1');
      if (!Number.isInteger(number) || number < 1) throw new FakeApiError(400, 'InvalidParameter.PageNumber', 'PageNumber must be ≥ 1.');
      page = all.slice((number - 1) * size, number * size);
      extra.PageNumber = number;
      extra.PageSize = size;
    }
    return {
      RequestId: randomUUID().toUpperCase(),
      TotalCount: all.length,
      ...extra,
      Instances: { Instance: page.map((i) => this.view(i)) },
    };
  }

  private view(i: FakeEcsInstance): Record<string, unknown> {
    return {
      InstanceId: i.InstanceId,
      InstanceName: i.InstanceName,
      HostName: i.HostName,
      Status: this.liveStatus(i),
      InstanceType: i.InstanceType,
      ImageId: i.ImageId,
      RegionId: i.RegionId,
      ZoneId: i.ZoneId,
      CreationTime: i.CreationTime,
      StartTime: i.CreationTime,
      AutoReleaseTime: i.AutoReleaseTime,
      InstanceChargeType: i.InstanceChargeType,
      SpotStrategy: i.SpotStrategy,
      SpotPriceLimit: i.SpotPriceLimit,
      VpcAttributes: { VSwitchId: i.VSwitchId, PrivateIpAddress: { IpAddress: [i.PrivateIp] } },
      PublicIpAddress: { IpAddress: [] },
      SecurityGroupIds: { SecurityGroupId: [i.SecurityGroupId] },
      Tags: { Tag: i.Tags.map((t) => ({ TagKey: t.Key, TagValue: t.Value })) },
      OperationLocks: { LockReason: i.terminationTime ? [{ LockReason: 'Recycling' }] : [] },
    };
  }
}

function clampPage(value: string | undefined, dflt: number, name: string): number {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new FakeApiError(400, `InvalidParameter.${name}`, `${name} must be in [1, 100].`);
  return n;
}

function collectTags(p: Record<string, string>): { Key: string; Value: string }[] {
  const out: { Key: string; Value: string }[] = [];
  for (let n = 1; n <= 20; n++) {
    const key = p[`Tag.${n}.Key`];
    if (key === undefined) continue;
    if (/^(aliyun|acs:)/.test(key)) throw new FakeApiError(400, 'InvalidTagKey.Malformed', 'Tag keys may not start with aliyun or acs:.');
    out.push({ Key: key, Value: p[`Tag.${n}.Value`] ?? '' });
  }
  return out;
}
