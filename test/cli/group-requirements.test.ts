import t from 'tap';
import { checkProviderOptions } from '../../cli/admin/group-requirements.js';
import type { GroupSpecInput } from '../../protocol/groups.js';

t.test('a cloud group without what its provider needs is refused naming the options to add', async (t) => {
  const ecs = { name: 'render', provider: 'ecs', ecs: { regionId: 'cn-hangzhou' } } as unknown as GroupSpecInput;
  t.throws(() => checkProviderOptions(ecs), {
    message: 'qfarm group create render: provider ecs needs --vswitch, --security-group, --image, --instance-type',
    exitCode: 2,
  });
  const complete = {
    name: 'render', provider: 'ecs', image: 'm-1', instanceTypes: ['ecs.c6.xlarge'],
    ecs: { regionId: 'cn-hangzhou', vSwitchId: 'vsw-1', securityGroupId: 'sg-1' },
  } as unknown as GroupSpecInput;
  t.doesNotThrow(() => checkProviderOptions(complete), 'nothing missing: sent to the master');
  const bc = { name: 'genomics', provider: 'batchcompute', batchcompute: { clusterId: 'cls-1' } } as unknown as GroupSpecInput;
  t.throws(() => checkProviderOptions(bc), { message: 'qfarm group create genomics: provider batchcompute needs --bc-group' });
  t.doesNotThrow(() => checkProviderOptions({ name: 'default', provider: 'local' } as unknown as GroupSpecInput), 'local needs nothing');
});
