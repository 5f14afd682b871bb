import { randomBytes, randomUUID } from 'node:crypto';
import { FakeApiError } from './api-error.js';

/**
 * BatchCompute's cluster API (2015-11-11) as far as qfarm uses it: GetCluster, ModifyCluster
 * (Groups.{name}.DesiredVMCount), ListClusterInstances (Marker / MaxItemCount), and
 * DeleteClusterInstance. The cluster creates or removes VMs to match DesiredVMCount on modify.
 */

export interface FakeClusterInstance {
  Id: string;
  Hint: string;
  State: 'Pending' | 'Starting' | 'Running' | 'Stopping';
  IpAddress: string;
  EcsInstanceId: string;
  HostName: string;
  ErrorCode: number;
  ErrorMessage: string;
  CreationTime: string;
}

export interface FakeClusterGroup {
  DesiredVMCount: number;
  InstanceType: string;
  ResourceType: 'OnDemand' | 'Spot';
  SpotStrategy: string;
  SpotPriceLimit: number;
  instances: FakeClusterInstance[];
}

export interface FakeCluster {
  Id: string;
  Name: string;
  ImageId: string;
  InstanceType: string;
  State: string;
  CreationTime: string;
  groups: Map<string, FakeClusterGroup>;
}

export interface FakeBatchComputeOptions {
  /** The documented range is [1, 65536]; whether 0 is accepted is unverified. @default 1 */
  minDesiredVMCount?: number;
}

export class FakeBatchCompute {
  readonly clusters = new Map<string, FakeCluster>();
  readonly calls: { method: string; path: string; query: Record<string, string>; body: unknown }[] = [];
  private ip = 20;

  constructor(private readonly options: FakeBatchComputeOptions = {}) {}

  addCluster(name: string, groups: Record<string, { instanceType: string; desired?: number; spot?: boolean }>): string {
    const id = `cls-${randomBytes(8).toString('hex')}`;
    const cluster: FakeCluster = { Id: id, Name: name, ImageId: 'img-ubuntu', InstanceType: 'ecs.sn1ne.large', State: 'Active', CreationTime: new Date().toISOString(), groups: new Map() };
    for (const [g, def] of Object.entries(groups)) {
      const group: FakeClusterGroup = { DesiredVMCount: 0, InstanceType: def.instanceType, ResourceType: def.spot ? 'Spot' : 'OnDemand', SpotStrategy: '', SpotPriceLimit: 0, instances: [] };
      cluster.groups.set(g, group);
      this.resize(group, def.desired ?? 0);
    }
    this.clusters.set(id, cluster);
    return id;
  }

  handle(method: string, path: string, query: Record<string, string>, body: unknown): { status: number; body: unknown } {
    this.calls.push({ method, path, query, body });
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== 'clusters' || !parts[1]) throw new FakeApiError(404, 'InvalidResource.NotFound', `No such resource ${path}`);
    const cluster = this.clusters.get(parts[1]);
    if (!cluster) throw new FakeApiError(404, 'ClusterNotFound', `The cluster ${parts[1]} does not exist.`);
    if (parts.length === 2 && method === 'GET') return { status: 200, body: this.view(cluster) };
    if (parts.length === 2 && method === 'PUT') return { status: 200, body: this.modify(cluster, body) };
    if (parts[2] === 'groups' && parts[3] && parts[4] === 'instances') {
      const group = cluster.groups.get(parts[3]);
      if (!group) throw new FakeApiError(404, 'InvalidGroups.NotFound', `The group ${parts[3]} does not exist in ${cluster.Id}.`);
      if (parts.length === 5 && method === 'GET') return { status: 200, body: this.list(group, query) };
      if (parts.length === 6 && method === 'DELETE') {
        const idx = group.instances.findIndex((i) => i.Id === parts[5]);
        if (idx < 0) throw new FakeApiError(404, 'InstanceNotFound', `The instance ${parts[5]} does not exist.`);
        group.instances.splice(idx, 1);
        return { status: 200, body: { RequestId: randomUUID() } };
      }
    }
    throw new FakeApiError(404, 'InvalidResource.NotFound', `No such resource ${method} ${path}`);
  }

  private modify(cluster: FakeCluster, body: unknown): Record<string, unknown> {
    const groups = (body as { Groups?: Record<string, { DesiredVMCount?: unknown }> } | null)?.Groups;
    if (!groups || typeof groups !== 'object') throw new FakeApiError(400, 'InvalidGroups', 'Groups is mandatory.');
    const min = this.options.minDesiredVMCount ?? 1;
    for (const [name, g] of Object.entries(groups)) {
      const group = cluster.groups.get(name);
      if (!group) throw new FakeApiError(400, `InvalidGroups.${name}`, `The group ${name} does not exist.`);
      if (g.DesiredVMCount === undefined) throw new FakeApiError(400, 'MissingDesiredVMCount', 'DesiredVMCount is mandatory.');
      const n = g.DesiredVMCount;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > 65536) {
        throw new FakeApiError(400, 'InvalidDesiredVMCount', `The DesiredVMCount is invalid. It must be in [${min}, 65536].`);
      }
    }
    for (const [name, g] of Object.entries(groups)) this.resize(cluster.groups.get(name)!, g.DesiredVMCount as number);
    return { RequestId: randomUUID() };
  }

  private resize(group: FakeClusterGroup, desired: number): void {
    group.DesiredVMCount = desired;
    while (group.instances.length < desired) {
      const ecs = `i-${randomBytes(8).toString('hex')}`;
      group.instances.push({
        Id: ecs,
        Hint: '',
        State: 'Running',
        IpAddress: `10.160.0.${this.ip++ % 250}`,
        EcsInstanceId: ecs,
        HostName: `bcs-${ecs.slice(2, 10)}`,
        ErrorCode: 0,
        ErrorMessage: '',
        CreationTime: new Date().toISOString(),
      });
    }
    // When lowered, the newest VMs go first (qfarm deletes its chosen victims explicitly).
    while (group.instances.length > desired) group.instances.pop();
  }

  private list(group: FakeClusterGroup, query: Record<string, string>): Record<string, unknown> {
    const max = query.MaxItemCount === undefined ? 50 : Number(query.MaxItemCount);
    if (!Number.isInteger(max) || max < 0 || max > 100) throw new FakeApiError(400, 'InvalidMaxItemCount', 'MaxItemCount must be in [0, 100].');
    const start = query.Marker ? group.instances.findIndex((i) => i.Id === query.Marker) : 0;
    if (start < 0) throw new FakeApiError(400, 'InvalidMarker', 'The Marker is not valid.');
    const items = group.instances.slice(start, start + max);
    const next = group.instances[start + max];
    return { NextMarker: next ? next.Id : '', Items: items };
  }

  private view(c: FakeCluster): Record<string, unknown> {
    const groups: Record<string, unknown> = {};
    for (const [name, g] of c.groups) {
      groups[name] = { DesiredVMCount: g.DesiredVMCount, ActualVMCount: g.instances.length, InstanceType: g.InstanceType, ResourceType: g.ResourceType, SpotStrategy: g.SpotStrategy, SpotPriceLimit: g.SpotPriceLimit };
    }
    const all = [...c.groups.values()].flatMap((g) => g.instances);
    return {
      Id: c.Id,
      Name: c.Name,
      ImageId: c.ImageId,
      InstanceType: c.InstanceType,
      State: c.State,
      CreationTime: c.CreationTime,
      OperationLogs: [],
      Metrics: { StartingCount: 0, RunningCount: all.length, StoppingCount: 0, StoppedCount: 0 },
      Groups: groups,
    };
  }
}
