import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { amount, wholeNumber } from '../option-numbers.js';
import { groupApiValidators, type GroupUpdateRequest } from '../../protocol/group-api.js';
import { groupValidators, type GroupSpecInput, type GroupStatus } from '../../protocol/groups.js';
import { formatPerf } from '../format/perf-table.js';
import { ApiClient, ApiRequestError } from '../api-client.js';
import { formatHandJoinedGroup } from './hand-joined-group.js';
import { CliError } from '../cli-errors.js';
import { locateMaster } from '../master-location.js';
import { checkProviderOptions } from './group-requirements.js';

/**
 * `qfarm group create|list|show|resize|update|delete`, `qfarm cluster start|stop|status` (the
 * verbs of the seeds' `bcc`), and `qfarm perf`. Registered by cli/qfarm.ts.
 */

const print = (line: string): void => void process.stdout.write(`${line}\n`);
const client = (): ApiClient => new ApiClient(locateMaster());

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

interface DefinitionOptions {
  provider?: string;
  instanceType?: string[];
  image?: string;
  min?: number;
  max?: number;
  desired?: number;
  slots?: number;
  spot?: string;
  maxPrice?: number;
  hourlyPrice?: number;
  billingUnit?: number;
  billingMinimum?: number;
  userDataFile?: string;
  label?: string[];
  region?: string;
  zone?: string;
  vswitch?: string;
  securityGroup?: string;
  ramRole?: string;
  keyPair?: string;
  autoReleaseHours?: number;
  bcCluster?: string;
  bcGroup?: string;
  autoscale?: boolean;
  idleSeconds?: number;
  scaleOutCooldown?: number;
  scaleInCooldown?: number;
  joinDeadline?: number;
  maxLaunch?: number;
  fromJson?: string;
}

/** Options shared by create, update and cluster start; nothing has a default here (the master fills them in). */
function definitionOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--provider <kind>', 'where machines come from').choices(['local', 'ecs', 'batchcompute']))
    .option('--instance-type <type>', 'instance type, e.g. ecs.c6.xlarge (repeat: fallbacks when out of stock)', collect)
    .option('--image <id>', 'worker image (ECS image id m-…)')
    .option('--min <n>', 'fewest machines', wholeNumber('--min', 0))
    .option('--max <n>', 'most machines', wholeNumber('--max', 0))
    .option('--desired <n>', 'machines wanted (the target when autoscaling is off)', wholeNumber('--desired', 0))
    .option('--slots <n>', 'slots each machine offers', wholeNumber('--slots', 0))
    .addOption(new Option('--spot <strategy>', 'spot policy').choices(['none', 'price-limit', 'as-price-go']))
    .option('--max-price <price>', 'hourly price cap for --spot price-limit', amount('--max-price'))
    .option('--hourly-price <price>', 'price of one machine-hour, for tasks/$ (qfarm perf)', amount('--hourly-price'))
    .option('--billing-unit <s>', 'the provider bills machines by units of this many seconds (ECS: 1; hourly: 3600)', wholeNumber('--billing-unit', 0))
    .option('--billing-minimum <s>', 'seconds billed at least per machine (ECS: 60); idle machines stay until paid time is used', wholeNumber('--billing-minimum', 0))
    .option('--user-data-file <file>', 'shell run by the bootstrap before the agent starts')
    .option('--label <k=v>', 'label of the group\'s agents (repeatable), matched by qsub -l k=v', collect)
    .option('--region <id>', 'ECS region, e.g. cn-hangzhou')
    .option('--zone <id>', 'ECS zone')
    .option('--vswitch <id>', 'ECS vSwitch id')
    .option('--security-group <id>', 'ECS security group id')
    .option('--ram-role <name>', 'RAM role of the workers (OSS without keys on disk)')
    .option('--key-pair <name>', 'ECS key pair for ssh')
    .option('--auto-release-hours <h>', 'ECS releases a worker after this long (leak guard)', amount('--auto-release-hours'))
    .option('--bc-cluster <id>', 'BatchCompute cluster id')
    .option('--bc-group <name>', 'group inside the BatchCompute cluster (e.g. group1)')
    .option('--autoscale', 'size the group to the queue')
    .option('--no-autoscale', 'keep the group at --desired')
    .option('--idle-seconds <s>', 'an idle machine may go after this long', wholeNumber('--idle-seconds', 0))
    .option('--scale-out-cooldown <s>', 'seconds between scale-outs', wholeNumber('--scale-out-cooldown', 0))
    .option('--scale-in-cooldown <s>', 'seconds between scale-ins', wholeNumber('--scale-in-cooldown', 0))
    .option('--join-deadline <s>', 'a machine whose agent has not joined by then is released', wholeNumber('--join-deadline', 0))
    .option('--max-launch <n>', 'most machines started in one step', wholeNumber('--max-launch', 0))
    .option('--from-json <file>', 'start from a JSON group definition (options given here override it)');
}

function parseLabels(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs) return undefined;
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new CliError(`qfarm group: --label wants key=value, got "${p}"`, 2);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

/** Only what was given: an update must not reset what it does not mention. */
function definitionFrom(o: DefinitionOptions): GroupUpdateRequest {
  const base = o.fromJson ? (JSON.parse(readFileSync(o.fromJson, 'utf8')) as GroupUpdateRequest & { name?: string }) : {};
  delete (base as { name?: string }).name;
  const d: GroupUpdateRequest = { ...base };
  if (o.provider) d.provider = o.provider as GroupSpecInput['provider'];
  if (o.instanceType) d.instanceTypes = o.instanceType;
  if (o.image) d.image = o.image;
  if (o.min !== undefined) d.minSize = o.min;
  if (o.max !== undefined) d.maxSize = o.max;
  if (o.desired !== undefined) d.desiredSize = o.desired;
  if (o.slots !== undefined) d.slotsPerInstance = o.slots;
  if (o.spot) d.spot = { strategy: o.spot as 'none', ...(o.maxPrice !== undefined ? { maxPrice: o.maxPrice } : {}) };
  if (o.hourlyPrice !== undefined) d.hourlyPrice = o.hourlyPrice;
  if (o.billingUnit !== undefined || o.billingMinimum !== undefined) {
    d.billing = { unitSeconds: o.billingUnit ?? base.billing?.unitSeconds ?? 1, minimumSeconds: o.billingMinimum ?? base.billing?.minimumSeconds ?? 60 };
  }
  if (o.userDataFile) d.userData = readFileSync(o.userDataFile, 'utf8');
  const labels = parseLabels(o.label);
  if (labels) d.labels = labels;
  if (o.region || o.vswitch || o.securityGroup || o.zone || o.ramRole || o.keyPair || o.autoReleaseHours !== undefined) {
    const ecs = { ...(base.ecs ?? {}) } as NonNullable<GroupSpecInput['ecs']>;
    if (o.region) ecs.regionId = o.region;
    if (o.vswitch) ecs.vSwitchId = o.vswitch;
    if (o.securityGroup) ecs.securityGroupId = o.securityGroup;
    if (o.zone) ecs.zoneId = o.zone;
    if (o.ramRole) ecs.ramRoleName = o.ramRole;
    if (o.keyPair) ecs.keyPairName = o.keyPair;
    if (o.autoReleaseHours !== undefined) ecs.autoReleaseHours = o.autoReleaseHours;
    d.ecs = ecs;
  }
  if (o.bcCluster || o.bcGroup) d.batchcompute = { ...(base.batchcompute ?? {}), ...(o.bcCluster ? { clusterId: o.bcCluster } : {}), ...(o.bcGroup ? { groupName: o.bcGroup } : {}) } as NonNullable<GroupSpecInput['batchcompute']>;
  const autoscale: NonNullable<GroupSpecInput['autoscale']> = { ...(base.autoscale ?? {}) };
  if (o.autoscale !== undefined) autoscale.enabled = o.autoscale;
  if (o.idleSeconds !== undefined) autoscale.idleSeconds = o.idleSeconds;
  if (o.scaleOutCooldown !== undefined) autoscale.scaleOutCooldownSeconds = o.scaleOutCooldown;
  if (o.scaleInCooldown !== undefined) autoscale.scaleInCooldownSeconds = o.scaleInCooldown;
  if (o.joinDeadline !== undefined) autoscale.joinDeadlineSeconds = o.joinDeadline;
  if (o.maxLaunch !== undefined) autoscale.maxLaunchPerStep = o.maxLaunch;
  if (Object.keys(autoscale).length) d.autoscale = autoscale;
  return d;
}

// ---------------------------------------------------------------- output

function type(g: GroupStatus): string {
  return g.spec.instanceTypes.join(',');
}

export function formatGroupList(groups: GroupStatus[]): string[] {
  const head = ['GROUP', 'PROVIDER', 'INSTANCE TYPE', 'MIN', 'DESIRED', 'MAX', 'HEALTHY', 'MACHINES', 'AUTOSCALE'];
  const rows = groups.map((g) => [g.spec.name, g.spec.provider, type(g), String(g.spec.minSize), String(g.desired), String(g.spec.maxSize), String(g.healthy), String(g.instances.length), g.spec.autoscale.enabled ? 'on' : 'off']);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  const out = [line(head), ...rows.map(line)];
  for (const g of groups) if (g.lastError) out.push(`${g.spec.name}: last error: ${g.lastError}`);
  return out;
}

export function formatGroupShow(g: GroupStatus): string[] {
  const s = g.spec;
  const out = [
    `group:          ${s.name}`,
    `provider:       ${s.provider}`,
    `instance types: ${type(g)}`,
    ...(s.image ? [`image:          ${s.image}`] : []),
    `size:           min ${s.minSize}, desired ${g.desired} (set ${s.desiredSize}), max ${s.maxSize}; ${g.healthy} healthy`,
    `slots/machine:  ${s.slotsPerInstance}`,
    `spot:           ${s.spot.strategy}${s.spot.maxPrice !== undefined ? ` (max ${s.spot.maxPrice}/h)` : ''}`,
    `hourly price:   ${s.hourlyPrice ?? '-'}`,
    `autoscale:      ${s.autoscale.enabled ? 'on' : 'off'} (idle ${s.autoscale.idleSeconds}s, cooldown out ${s.autoscale.scaleOutCooldownSeconds}s / in ${s.autoscale.scaleInCooldownSeconds}s, join deadline ${s.autoscale.joinDeadlineSeconds}s)`,
    ...(Object.keys(s.labels).length ? [`labels:         ${Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(',')}`] : []),
    ...(s.ecs ? [`ecs:            region ${s.ecs.regionId}${s.ecs.zoneId ? ` zone ${s.ecs.zoneId}` : ''} vswitch ${s.ecs.vSwitchId} security group ${s.ecs.securityGroupId}`] : []),
    ...(s.batchcompute ? [`batchcompute:   cluster ${s.batchcompute.clusterId} group ${s.batchcompute.groupName}`] : []),
    `last error:     ${g.lastError ?? '-'}`,
    'machines:',
    ...(g.instances.length
      ? g.instances.map((i) => `  ${i.id}  ${i.state}${i.interrupted ? ' (reclaimed)' : ''}  ${i.instanceType ?? '-'}  agent ${i.agent ?? '(not joined)'}${i.spot ? '  spot' : ''}  since ${new Date(i.launchedAt).toISOString()}`)
      : ['  (none)']),
    'last autoscaler pass:',
    ...(g.reasons.length ? g.reasons.map((r) => `  ${r}`) : ['  (none yet)']),
  ];
  return out;
}

// ---------------------------------------------------------------- commands

async function createGroup(name: string, o: DefinitionOptions): Promise<GroupStatus> {
  const d = definitionFrom(o);
  const input = { ...d, name, provider: d.provider ?? 'local' } as GroupSpecInput;
  checkProviderOptions(input);
  return client().post('/groups', input, groupValidators.groupStatus);
}

async function updateGroup(name: string, patch: GroupUpdateRequest): Promise<GroupStatus> {
  return client().request('PATCH', `/groups/${encodeURIComponent(name)}`, patch, groupValidators.groupStatus) as Promise<GroupStatus>;
}

async function listGroups(): Promise<GroupStatus[]> {
  return (await client().get('/groups', groupValidators.groupListResponse)).groups;
}

export function registerGroupCommands(program: Command): void {
  const group = program.command('group').description('groups of worker machines (SGE queues backed by a provider: local, ecs, batchcompute)');

  definitionOptions(group.command('create').description('define a group; the autoscaler sizes it to the queue (qsub -q NAME targets it)').argument('<name>')).action(
    async (name: string, o: DefinitionOptions) => {
      const g = await createGroup(name, o);
      print(`created group ${g.spec.name} (${g.spec.provider}, ${g.spec.minSize}..${g.spec.maxSize} machines)`);
      if (g.lastError) print(`warning: ${g.lastError}`);
    },
  );

  group
    .command('list')
    .description('every group: size, health, last error')
    .action(async () => {
      for (const line of formatGroupList(await listGroups())) print(line);
    });

  group
    .command('show')
    .description("a group's definition, machines, the autoscaler's last reasons and the last provider error")
    .argument('<name>')
    .action(async (name: string) => {
      let g: GroupStatus;
      try {
        g = await client().get(`/groups/${encodeURIComponent(name)}`, groupValidators.groupStatus);
      } catch (err) {
        // No provider row: the group may still exist, made by agents started by hand with --group.
        if (!(err instanceof ApiRequestError && err.status === 404)) throw err;
        const { hosts } = await client().get('/hosts?all=1', 'hostsResponse');
        const members = hosts.filter((h) => h.group === name);
        if (members.length === 0) throw err;
        for (const line of formatHandJoinedGroup(name, members)) print(line);
        return;
      }
      for (const line of formatGroupShow(g)) print(line);
    });

  group
    .command('resize')
    .description('set the number of machines (the target with autoscaling off; else only min/max bound the queue\'s choice)')
    .argument('<name>')
    .argument('<n>', 'machines', wholeNumber('N', 0))
    .option('--min <n>', 'new minimum', wholeNumber('--min', 0))
    .option('--max <n>', 'new maximum', wholeNumber('--max', 0))
    .action(async (name: string, n: number, o: { min?: number; max?: number }) => {
      const body = { desiredSize: n, ...(o.min !== undefined ? { minSize: o.min } : {}), ...(o.max !== undefined ? { maxSize: o.max } : {}) };
      const g = await client().post(`/groups/${encodeURIComponent(name)}/resize`, body, groupValidators.groupStatus);
      print(`group ${g.spec.name}: min ${g.spec.minSize}, desired ${g.desired}, max ${g.spec.maxSize}; ${g.instances.length} machine(s) now`);
      if (g.lastError) print(`warning: ${g.lastError}`);
    });

  definitionOptions(group.command('update').description("change a group's definition (only the options given)").argument('<name>')).action(
    async (name: string, o: DefinitionOptions) => {
      const g = await updateGroup(name, definitionFrom(o));
      print(`updated group ${g.spec.name}`);
      if (g.lastError) print(`warning: ${g.lastError}`);
    },
  );

  group
    .command('delete')
    .description('scale a group to 0 and remove it once its machines are gone')
    .argument('<name>')
    .action(async (name: string) => {
      const res = await client().request('DELETE', `/groups/${encodeURIComponent(name)}`, undefined, groupApiValidators.groupDeleteResponse);
      print((res as { message: string }).message);
    });

  const cluster = program.command('cluster').description('bcc-style: start, stop and watch the whole set of groups');
  definitionOptions(
    cluster
      .command('start')
      .description('define N groups from one template: default plus group1..group(N-1) (existing ones are updated)')
      .argument('[n]', 'number of groups', wholeNumber('N', 0), 1),
  ).action(async (n: number, o: DefinitionOptions) => {
    if (n < 1) throw new CliError('qfarm cluster start: N must be at least 1', 2);
    const existing = new Set((await listGroups()).map((g) => g.spec.name));
    const template = definitionFrom(o);
    for (let i = 0; i < n; i++) {
      const name = i === 0 ? 'default' : `group${i}`;
      const g = existing.has(name) ? await updateGroup(name, template) : await createGroup(name, o);
      print(`${existing.has(name) ? 'updated' : 'created'} group ${g.spec.name} (${g.spec.provider}, ${g.spec.minSize}..${g.spec.maxSize} machines)${g.lastError ? `; warning: ${g.lastError}` : ''}`);
    }
  });
  cluster
    .command('stop')
    .description("set every group's size to 0 (busy machines are drained first)")
    .action(async () => {
      for (const g of await listGroups()) {
        const res = await client().post(`/groups/${encodeURIComponent(g.spec.name)}/resize`, { desiredSize: 0, minSize: 0, maxSize: 0 }, groupValidators.groupStatus);
        print(`group ${res.spec.name}: scaling to 0 (${res.instances.length} machine(s) left)`);
      }
    });
  cluster
    .command('status')
    .description('every group (same as qfarm group list)')
    .action(async () => {
      for (const line of formatGroupList(await listGroups())) print(line);
    });

  program
    .command('perf')
    .description('tasks per hour and tasks per unit of money by instance type, from accounting')
    .option('--json', 'print the JSON answer', false)
    .action(async (o: { json: boolean }) => {
      const res = await client().get('/perf', groupValidators.perfResponse);
      process.stdout.write(o.json ? JSON.stringify(res, null, 2) + '\n' : formatPerf(res.rows));
    });
}
