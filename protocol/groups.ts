import { Type, type Static } from '@sinclair/typebox';
import { compile } from './validate.js';
import { PerfResponse } from './perf.js';

/** `qfarm perf`'s answer is part of the groups API; its schema lives in perf.ts, which the dashboard bundles. */
export type { PerfResponse } from './perf.js';

/**
 * Groups of worker machines (SGE queues backed by a cloud provider). The CLI builds a
 * GroupSpecInput from `qfarm group create …`, the API validates it, the master stores it and
 * hands the compiled GroupSpec to a provider and the autoscaler.
 */

export const ProviderKind = { Local: 'local', Ecs: 'ecs', BatchCompute: 'batchcompute' } as const;
export type ProviderKind = (typeof ProviderKind)[keyof typeof ProviderKind];

export const SpotStrategy = {
  /** Pay-as-you-go, never interrupted. */
  None: 'none',
  /** Spot with a maximum hourly price (`SpotWithPriceLimit`). */
  PriceLimit: 'price-limit',
  /** Spot at the market price, capped by the pay-as-you-go price (`SpotAsPriceGo`). */
  AsPriceGo: 'as-price-go',
} as const;
export type SpotStrategy = (typeof SpotStrategy)[keyof typeof SpotStrategy];

const Name = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z][A-Za-z0-9_-]*$' });

export const SpotPolicy = Type.Object({
  strategy: Type.Union([Type.Literal('none'), Type.Literal('price-limit'), Type.Literal('as-price-go')]),
  /** Hourly price cap (currency of the account), required for price-limit. */
  maxPrice: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
});
export type SpotPolicy = Static<typeof SpotPolicy>;

/**
 * How the provider bills a machine, so scale-in does not throw away time already paid for.
 * ECS pay-as-you-go bills per second after a first minute: unit 1, minimum 60. A regime that
 * bills whole hours: unit 3600, minimum 3600.
 */
export const BillingPolicy = Type.Object({
  unitSeconds: Type.Integer({ minimum: 1 }),
  minimumSeconds: Type.Integer({ minimum: 0 }),
});
export type BillingPolicy = Static<typeof BillingPolicy>;

export const EcsPlacement = Type.Object({
  regionId: Type.String({ minLength: 1 }),
  zoneId: Type.Optional(Type.String({ minLength: 1 })),
  vSwitchId: Type.String({ minLength: 1 }),
  securityGroupId: Type.String({ minLength: 1 }),
  /** RAM role attached to workers (for OSS access without keys on disk). */
  ramRoleName: Type.Optional(Type.String({ minLength: 1 })),
  keyPairName: Type.Optional(Type.String({ minLength: 1 })),
  systemDiskCategory: Type.Optional(Type.String({ minLength: 1 })),
  systemDiskSizeGiB: Type.Optional(Type.Integer({ minimum: 20, maximum: 500 })),
  /** Released by ECS itself this many hours after launch, in case qfarm forgets it (leak guard). */
  autoReleaseHours: Type.Optional(Type.Number({ minimum: 0.5, maximum: 24 * 365 })),
});
export type EcsPlacement = Static<typeof EcsPlacement>;

export const BatchComputePlacement = Type.Object({
  clusterId: Type.String({ minLength: 1 }),
  /** Group name inside the BatchCompute cluster (often `group1`). */
  groupName: Type.String({ minLength: 1, maxLength: 64 }),
  regionId: Type.Optional(Type.String({ minLength: 1 })),
});
export type BatchComputePlacement = Static<typeof BatchComputePlacement>;

export const AutoscalePolicy = Type.Object({
  /** Master switch: when false the autoscaler only reconciles, it never changes the size. */
  enabled: Type.Boolean(),
  scaleOutCooldownSeconds: Type.Number({ minimum: 0 }),
  scaleInCooldownSeconds: Type.Number({ minimum: 0 }),
  /** An agent idle this long may be removed (if min and billing allow). */
  idleSeconds: Type.Number({ minimum: 0 }),
  /** A launched instance whose agent has not said hello by then is reported and released. */
  joinDeadlineSeconds: Type.Number({ minimum: 1 }),
  /** Largest number of machines to add in one step. */
  maxLaunchPerStep: Type.Integer({ minimum: 1 }),
  /** Aim for the queue to drain in about this long: machines = work / this (when runtimes are known). */
  targetDrainSeconds: Type.Number({ minimum: 1 }),
});
export type AutoscalePolicy = Static<typeof AutoscalePolicy>;

/** What a person or the CLI sends: defaults are filled in by compileGroupSpec. */
export const GroupSpecInput = Type.Object({
  name: Name,
  provider: Type.Union([Type.Literal('local'), Type.Literal('ecs'), Type.Literal('batchcompute')]),
  /** First is preferred; later ones are fallbacks when the first is out of stock. */
  instanceTypes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 10 })),
  image: Type.Optional(Type.String({ minLength: 1 })),
  minSize: Type.Optional(Type.Integer({ minimum: 0 })),
  maxSize: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000 })),
  desiredSize: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Slots each machine offers (agent --slots); defaults to 1 for local, else the type's vCPUs are unknown here. */
  slotsPerInstance: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096 })),
  spot: Type.Optional(SpotPolicy),
  billing: Type.Optional(BillingPolicy),
  /** Hourly price of one machine, for tasks/$ and billing decisions when the provider does not say. */
  hourlyPrice: Type.Optional(Type.Number({ minimum: 0 })),
  /** Extra shell run by the bootstrap before the agent starts (installs, mounts). */
  userData: Type.Optional(Type.String({ maxLength: 12 * 1024 })),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  ecs: Type.Optional(EcsPlacement),
  batchcompute: Type.Optional(BatchComputePlacement),
  autoscale: Type.Optional(Type.Partial(AutoscalePolicy)),
});
export type GroupSpecInput = Static<typeof GroupSpecInput>;

/** A complete, validated group definition: every field present. */
export const GroupSpec = Type.Object({
  name: Name,
  provider: Type.Union([Type.Literal('local'), Type.Literal('ecs'), Type.Literal('batchcompute')]),
  instanceTypes: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  image: Type.String(),
  minSize: Type.Integer({ minimum: 0 }),
  maxSize: Type.Integer({ minimum: 0 }),
  desiredSize: Type.Integer({ minimum: 0 }),
  slotsPerInstance: Type.Integer({ minimum: 1 }),
  spot: SpotPolicy,
  billing: BillingPolicy,
  hourlyPrice: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
  userData: Type.String(),
  labels: Type.Record(Type.String(), Type.String()),
  ecs: Type.Union([EcsPlacement, Type.Null()]),
  batchcompute: Type.Union([BatchComputePlacement, Type.Null()]),
  autoscale: AutoscalePolicy,
});
export type GroupSpec = Static<typeof GroupSpec>;

export const DEFAULT_AUTOSCALE: AutoscalePolicy = {
  enabled: true,
  scaleOutCooldownSeconds: 60,
  scaleInCooldownSeconds: 300,
  idleSeconds: 300,
  joinDeadlineSeconds: 600,
  maxLaunchPerStep: 20,
  targetDrainSeconds: 3600,
};

/** ECS pay-as-you-go: per second after the first minute. */
export const PER_SECOND_BILLING: BillingPolicy = { unitSeconds: 1, minimumSeconds: 60 };

/** A group definition that validates structurally but not as a whole (min > max, missing placement…). */
export class GroupSpecError extends Error {
  constructor(
    readonly group: string,
    readonly problems: string[],
  ) {
    super(`group "${group}" is not valid: ${problems.join('; ')}`);
    this.name = 'GroupSpecError';
  }
}

export const groupSpecInputValidator = compile('group spec', GroupSpecInput);

/**
 * Validates a group definition once and fills in defaults, so providers and the autoscaler never
 * re-check fields. Throws GroupSpecError naming every cross-field problem at once.
 */
export function compileGroupSpec(input: unknown): GroupSpec {
  const raw = groupSpecInputValidator.parse(input);
  const problems: string[] = [];
  const isLocal = raw.provider === 'local';
  const minSize = raw.minSize ?? 0;
  const maxSize = raw.maxSize ?? (isLocal ? 4 : 10);
  const desiredSize = raw.desiredSize ?? minSize;
  if (minSize > maxSize) problems.push(`minSize ${minSize} is larger than maxSize ${maxSize}`);
  if (desiredSize < minSize || desiredSize > maxSize) {
    problems.push(`desiredSize ${desiredSize} is outside [minSize ${minSize}, maxSize ${maxSize}]`);
  }
  const spot: SpotPolicy = raw.spot ?? { strategy: 'none' };
  if (spot.strategy === 'price-limit' && spot.maxPrice === undefined) {
    problems.push('spot strategy price-limit needs spot.maxPrice (hourly price cap)');
  }
  if (spot.strategy !== 'none' && isLocal) problems.push('the local provider has no spot machines: use spot.strategy none');
  if (raw.provider === 'ecs') {
    if (!raw.ecs) problems.push('provider ecs needs ecs: {regionId, vSwitchId, securityGroupId}');
    if (!raw.image) problems.push('provider ecs needs image (an ECS image id, m-… or a public image)');
    if (!raw.instanceTypes) problems.push('provider ecs needs instanceTypes, e.g. ["ecs.c6.xlarge"]');
  }
  if (raw.provider === 'batchcompute') {
    if (!raw.batchcompute) problems.push('provider batchcompute needs batchcompute: {clusterId, groupName}');
  }
  if (problems.length > 0) throw new GroupSpecError(raw.name, problems);
  return {
    name: raw.name,
    provider: raw.provider,
    instanceTypes: raw.instanceTypes ?? [isLocal ? 'local' : 'unknown'],
    image: raw.image ?? '',
    minSize,
    maxSize,
    desiredSize,
    slotsPerInstance: raw.slotsPerInstance ?? 1,
    spot,
    billing: raw.billing ?? (isLocal ? { unitSeconds: 1, minimumSeconds: 0 } : PER_SECOND_BILLING),
    hourlyPrice: raw.hourlyPrice ?? (spot.strategy === 'price-limit' ? (spot.maxPrice ?? null) : null),
    userData: raw.userData ?? '',
    labels: raw.labels ?? {},
    ecs: raw.ecs ?? null,
    batchcompute: raw.batchcompute ?? null,
    autoscale: { ...DEFAULT_AUTOSCALE, ...stripUndefined(raw.autoscale ?? {}) },
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** One group as `qfarm group list|show` prints it. */
export const GroupStatus = Type.Object({
  spec: GroupSpec,
  /** Machines the last autoscaler pass wanted, and how many were healthy. */
  desired: Type.Integer({ minimum: 0 }),
  healthy: Type.Integer({ minimum: 0 }),
  instances: Type.Array(
    Type.Object({
      id: Type.String(),
      state: Type.Union([Type.Literal('pending'), Type.Literal('running'), Type.Literal('stopping'), Type.Literal('gone')]),
      agent: Type.Union([Type.String(), Type.Null()]),
      instanceType: Type.Union([Type.String(), Type.Null()]),
      launchedAt: Type.Number(),
      spot: Type.Boolean(),
      interrupted: Type.Boolean(),
    }),
  ),
  /** Reasons of the last pass, and the last provider error (quota, stock, image, auth). */
  reasons: Type.Array(Type.String()),
  lastError: Type.Union([Type.String(), Type.Null()]),
});
export type GroupStatus = Static<typeof GroupStatus>;

export const GroupListResponse = Type.Object({ groups: Type.Array(GroupStatus) });
export type GroupListResponse = Static<typeof GroupListResponse>;

/** `qfarm group resize NAME N [--min A --max B]`. */
export const GroupResizeRequest = Type.Object({
  desiredSize: Type.Integer({ minimum: 0 }),
  minSize: Type.Optional(Type.Integer({ minimum: 0 })),
  maxSize: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type GroupResizeRequest = Static<typeof GroupResizeRequest>;

export const groupValidators = {
  groupSpecInput: groupSpecInputValidator,
  groupStatus: compile('group status', GroupStatus),
  groupListResponse: compile('group list response', GroupListResponse),
  groupResizeRequest: compile('group resize request', GroupResizeRequest),
  perfResponse: compile('perf response', PerfResponse),
};
