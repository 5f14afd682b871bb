import type { Command } from 'commander';
import type { HostView } from '../../protocol/api.js';
import { ApiClient } from '../api-client.js';
import { locateMaster } from '../master-location.js';
import { qstatDate } from '../format/sge-time.js';

/** `qfarm host list [--all]` and `qfarm host remove NAME` (disable/enable live in qfarm.ts). */
export function registerHostListCommands(host: Command): void {
  host
    .command('list')
    .description("list the farm's hosts with their state; --all includes hosts whose machine is gone (left out of qhost)")
    .option('--all', 'include gone hosts (released or no longer listed by their provider)', false)
    .action(async (opts: { all: boolean }) => {
      const client = new ApiClient(locateMaster());
      const { hosts } = await client.get(`/hosts${opts.all ? '?all=1' : ''}`, 'hostsResponse');
      process.stdout.write(formatHostList(hosts));
    });
  host
    .command('remove')
    .description('forget a host that is not connected (it leaves qhost --all; qacct keeps its history)')
    .argument('<name>')
    .action(async (name: string) => {
      const client = new ApiClient(locateMaster());
      const res = await client.post(`/hosts/${encodeURIComponent(name)}/remove`, {}, 'actionResponse');
      for (const m of res.messages) process.stdout.write(m.text + '\n');
    });
}

/** One line per host: name, group, state (online, offline, disabled, gone), slots used/total, last seen. */
export function formatHostList(hosts: readonly HostView[]): string {
  const rows = hosts.map((h) => [h.hostname, h.group, h.gone ? 'gone' : h.state, `${h.slotsUsed}/${h.slots}`, h.state === 'online' && !h.gone ? '-' : qstatDate(h.lastSeen)]);
  const header = ['HOST', 'GROUP', 'STATE', 'SLOTS', 'LAST SEEN'];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 2))).join('') + '\n';
  return line(header) + rows.map(line).join('');
}
