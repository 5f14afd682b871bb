import os from 'node:os';
import { compileGroupSpec, type GroupSpec, type GroupSpecInput } from '../../protocol/groups.js';

/**
 * The group every farm has from its first start: local agents, autoscaling off and size 0, so
 * that `qfarm up` (which starts its own agents) and agents started by hand are never fought
 * over. `qfarm group update default --autoscale` lets the master start local agents itself.
 */
export function defaultGroupSpec(): GroupSpec {
  const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return compileGroupSpec({ name: 'default', provider: 'local', minSize: 0, maxSize: Math.max(1, cpus), slotsPerInstance: 1, autoscale: { enabled: false } });
}

/** A compiled spec as an input again (nulls dropped), to merge an update into and recompile. */
export function specAsInput(spec: GroupSpec): GroupSpecInput {
  const { hourlyPrice, ecs, batchcompute, image, ...rest } = spec;
  return {
    ...rest,
    ...(image === '' ? {} : { image }),
    ...(hourlyPrice === null ? {} : { hourlyPrice }),
    ...(ecs === null ? {} : { ecs }),
    ...(batchcompute === null ? {} : { batchcompute }),
  };
}
