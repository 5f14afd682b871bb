import type { GroupSpecInput } from '../../protocol/groups.js';
import { CliError } from '../cli-errors.js';

/** What each cloud provider cannot do without, named by the `qfarm group` option that sets it. */
const REQUIRED: Record<string, ReadonlyArray<{ option: string; given: (spec: GroupSpecInput) => unknown }>> = {
  ecs: [
    { option: '--region', given: (s) => s.ecs?.regionId },
    { option: '--vswitch', given: (s) => s.ecs?.vSwitchId },
    { option: '--security-group', given: (s) => s.ecs?.securityGroupId },
    { option: '--image', given: (s) => s.image },
    { option: '--instance-type', given: (s) => s.instanceTypes?.length },
  ],
  batchcompute: [
    { option: '--bc-cluster', given: (s) => s.batchcompute?.clusterId },
    { option: '--bc-group', given: (s) => s.batchcompute?.groupName },
  ],
};

/**
 * Refuses, before anything is sent, a new group that lacks what its provider needs, naming the
 * options to add (the master would otherwise answer with schema paths of the JSON spec).
 */
export function checkProviderOptions(spec: GroupSpecInput): void {
  const missing = (REQUIRED[spec.provider] ?? []).filter((r) => !r.given(spec)).map((r) => r.option);
  if (missing.length === 0) return;
  throw new CliError(
    `qfarm group create ${spec.name}: provider ${spec.provider} needs ${missing.join(', ')}`,
    2,
    spec.provider === 'ecs'
      ? 'the workers join the VPC network of --vswitch and --security-group in --region, booting --image as --instance-type; see qfarm group create --help'
      : 'name the BatchCompute cluster and its group the workers run in; see qfarm group create --help',
  );
}
