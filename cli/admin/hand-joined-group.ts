import type { HostView } from '../../protocol/api.js';
import { formatHostList } from './host-commands.js';

/**
 * `qfarm group show NAME` of a group no provider manages: agents started by hand with
 * `--group NAME` made it. qfarm neither starts nor stops its machines; its hosts are all there is.
 */
export function formatHandJoinedGroup(name: string, hosts: readonly HostView[]): string[] {
  const live = hosts.filter((h) => !h.gone);
  const slots = live.reduce((n, h) => n + h.slots, 0);
  const used = live.reduce((n, h) => n + h.slotsUsed, 0);
  return [
    `group:          ${name}`,
    'provider:       none (joined by agents started by hand with --group; qfarm does not start or stop its machines)',
    `size:           ${live.filter((h) => h.state === 'online').length} online of ${live.length} host(s); slots ${used}/${slots} used`,
    'machines:',
    ...formatHostList(hosts).trimEnd().split('\n').map((line) => `  ${line}`),
  ];
}
