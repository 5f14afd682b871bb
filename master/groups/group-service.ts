import type { AgentHello } from '../../protocol/agent-messages.js';
import type { AccountingRecord } from '../../protocol/api.js';
import type { GroupUpdateRequest } from '../../protocol/group-api.js';
import { compileGroupSpec, GroupSpecError, type GroupResizeRequest, type GroupSpec, type GroupSpecInput, type GroupStatus, type PerfResponse } from '../../protocol/groups.js';
import { perfByInstanceType, type HostCost } from './perf.js';
import { ProviderError } from '../providers/errors.js';
import { INSTANCE_ID_LABEL } from '../providers/local-provider.js';
import type { Instance } from '../providers/provider.js';
import type { Db } from '../store/database.js';
import { hostReader } from '../store/host-reader.js';
import type { Transitions } from '../store/transitions.js';
import { accountingRecords } from '../views/accounting.js';
import type { AutoscaleLoop } from './autoscale-loop.js';
import { agentNamesByInstance, groupRow, groupRows, type GroupRow } from '../store/group-store.js';
import { specAsInput } from './group-specs.js';

/** A group request that cannot be served; the API turns it into a status and a hint. */
export class GroupRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'GroupRequestError';
  }
}

/**
 * What `qfarm group …`, `qfarm cluster …` and `qfarm perf` do, on the master: definitions go
 * through compileGroupSpec and Transitions, sizes through the autoscale loop.
 */
export class GroupService {
  constructor(
    private readonly db: Db,
    private readonly transitions: Transitions,
    private readonly loop: () => AutoscaleLoop,
  ) {}

  async create(input: GroupSpecInput): Promise<GroupStatus> {
    const spec = compile(input);
    if (!this.transitions.createGroup(spec.name, JSON.stringify(spec))) {
      throw new GroupRequestError(409, `group "${spec.name}" exists already`, `change it with 'qfarm group update ${spec.name} …' or 'qfarm group resize ${spec.name} N'`);
    }
    await this.loop().stepNow(spec.name);
    return this.status(this.require(spec.name));
  }

  async list(): Promise<GroupStatus[]> {
    return Promise.all(groupRows(this.db).map((g) => this.status(g)));
  }

  async show(name: string): Promise<GroupStatus> {
    return this.status(this.require(name));
  }

  /** Sets the size (and bounds); with autoscaling on, the queue decides within them. */
  async resize(name: string, req: GroupResizeRequest): Promise<GroupStatus> {
    const row = this.require(name);
    const input = specAsInput(row.spec);
    const minSize = req.minSize ?? Math.min(input.minSize ?? 0, req.desiredSize);
    const maxSize = req.maxSize ?? Math.max(input.maxSize ?? 0, req.desiredSize);
    const spec = compile({ ...input, desiredSize: req.desiredSize, minSize, maxSize });
    this.transitions.updateGroup(name, JSON.stringify(spec));
    if (row.deleting && spec.maxSize > 0) this.transitions.setGroupDeleting(name, false);
    await this.loop().stepNow(name);
    return this.status(this.require(name));
  }

  async update(name: string, patch: GroupUpdateRequest): Promise<GroupStatus> {
    const row = this.require(name);
    const input = specAsInput(row.spec);
    if (patch.provider && patch.provider !== row.spec.provider) {
      // Defaults of the old provider (billing, instance type "local") are not choices to keep.
      delete input.billing;
      if (row.spec.provider === 'local') delete input.instanceTypes;
    }
    const spec = compile({
      ...input,
      ...patch,
      name,
      ...(patch.autoscale ? { autoscale: { ...input.autoscale, ...patch.autoscale } } : {}),
      ...(patch.labels ? { labels: { ...input.labels, ...patch.labels } } : {}),
    });
    if (spec.provider !== row.spec.provider && (await this.instancesOf(row.spec)).instances.length > 0) {
      throw new GroupRequestError(409, `group "${name}" still has ${row.spec.provider} machines: it cannot move to ${spec.provider} now`, `'qfarm group resize ${name} 0 --max 0' first, then update`);
    }
    this.transitions.updateGroup(name, JSON.stringify(spec));
    await this.loop().stepNow(name);
    return this.status(this.require(name));
  }

  /** Scales the group to 0; the row goes once the provider lists no machine (at once if it has none). */
  async delete(name: string): Promise<{ deleted: boolean; message: string }> {
    const row = this.require(name);
    if (name === 'default') throw new GroupRequestError(409, 'the default group cannot be deleted', "'qfarm group resize default 0 --max 0' empties it");
    this.transitions.setGroupDeleting(name, true);
    await this.loop().stepNow(name);
    if (!groupRow(this.db, name)) return { deleted: true, message: `deleted group ${name}` };
    const left = (await this.instancesOf(row.spec)).instances.length;
    return { deleted: false, message: `group ${name} is scaling to 0 (${left} machine(s) left, busy ones are drained first); it is deleted once none is left` };
  }

  /** `qfarm perf`: tasks/hour and tasks/$ by instance type, from accounting and what the hosts were. */
  perf(): PerfResponse {
    const records: AccountingRecord[] = accountingRecords(this.db, {});
    const specs = new Map(groupRows(this.db).map((g) => [g.name, g.spec]));
    const hostCosts = new Map<string, HostCost>();
    for (const h of hostReader(this.db).inventories()) {
      const hello = JSON.parse(h.hello) as AgentHello;
      const spec = specs.get(h.group_name);
      const instanceType = hello.labels['qfarm.instance-type'] ?? spec?.instanceTypes[0] ?? (hello.labels[INSTANCE_ID_LABEL] ? 'unknown' : 'unmanaged');
      hostCosts.set(h.hostname, { instanceType, hourlyPrice: spec?.hourlyPrice ?? null });
    }
    return { rows: perfByInstanceType(records, hostCosts) };
  }

  private require(name: string): GroupRow {
    const row = groupRow(this.db, name);
    if (!row) {
      const known = groupRows(this.db).map((g) => g.name);
      throw new GroupRequestError(404, `group "${name}" does not exist`, `known groups: ${known.join(', ') || 'none'}; 'qfarm group create ${name} …' makes it`);
    }
    return row;
  }

  private async instancesOf(spec: GroupSpec): Promise<{ instances: Instance[]; error: string | null }> {
    try {
      return { instances: await this.loop().providers.providerFor(spec).list(spec), error: null };
    } catch (err) {
      return { instances: [], error: err instanceof ProviderError ? err.message : `cannot list the machines of group ${spec.name}: ${(err as Error).message}` };
    }
  }

  private async status(row: GroupRow): Promise<GroupStatus> {
    const { instances, error } = await this.instancesOf(row.spec);
    const names = agentNamesByInstance(this.db, row.name);
    const interrupted = new Set(
      hostReader(this.db).interruptedInventories(row.name).map(
        (h) => (JSON.parse(h) as AgentHello).labels[INSTANCE_ID_LABEL],
      ),
    );
    const healthy = instances.filter((i) => (i.state === 'running' || i.state === 'pending') && !i.interrupted && !interrupted.has(i.id)).length;
    return {
      spec: row.spec,
      desired: row.desired,
      healthy,
      instances: instances.map((i) => ({
        id: i.id,
        state: i.state,
        agent: names.get(i.agentName ?? i.id) ?? names.get(i.id) ?? null,
        instanceType: i.instanceType ?? null,
        launchedAt: i.launchedAt,
        spot: i.spot,
        interrupted: !!i.interrupted || interrupted.has(i.id),
      })),
      reasons: row.deleting ? ['being deleted: scaling to 0', ...row.reasons] : row.reasons,
      lastError: row.lastError ?? error,
    };
  }
}

function compile(input: unknown): GroupSpec {
  try {
    return compileGroupSpec(input);
  } catch (err) {
    if (err instanceof GroupSpecError) throw new GroupRequestError(400, err.message, "'qfarm group create --help' lists the options that set these");
    throw err;
  }
}
