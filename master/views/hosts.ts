import type { HostView } from '../../protocol/api.js';
import type { HostInventory } from '../../protocol/agent-messages.js';
import type { AgentHub } from '../agent-hub.js';
import type { Db } from '../store/database.js';
import type { HostError } from '../store/host-errors.js';
import { hostReader } from '../store/host-reader.js';

/**
 * `qhost`: the hosts that joined, with live load and memory for connected ones, and their error
 * state. A host whose machine is gone (marked lost: the provider released it or no longer lists
 * it) is left out unless `all` (`qfarm host list --all`): after a day of autoscaling, qhost would
 * otherwise be thousands of `-` lines. Its history stays in accounting.
 */
export function hostViews(db: Db, hub: AgentHub, options: { all?: boolean; errors?: ReadonlyMap<string, HostError> } = {}): HostView[] {
  const errors = options.errors ?? new Map<string, HostError>();
  const rows = hostReader(db).list();
  const shown = options.all ? rows : rows.filter((row) => !row.lost || hub.session(row.agent_id) !== undefined);
  return shown.map((row) => {
    const hello = JSON.parse(row.hello) as HostInventory;
    const session = hub.session(row.agent_id);
    const error = errors.get(hello.hostname);
    return {
      hostname: hello.hostname,
      group: hello.group,
      arch: hello.arch,
      ncpu: hello.cpus,
      nsoc: hello.sockets,
      ncor: hello.cores,
      nthr: hello.threads,
      load: session ? session.load1 : null,
      memTotalBytes: hello.memTotalBytes,
      memUsedBytes: session ? session.memUsedBytes : null,
      swapTotalBytes: hello.swapTotalBytes,
      swapUsedBytes: session ? session.swapUsedBytes : null,
      slots: hello.slots,
      slotsUsed: session ? session.usedSlots() : 0,
      state: row.disabled ? 'disabled' : session ? 'online' : 'offline',
      lastSeen: row.last_seen,
      labels: hello.labels,
      ...(error ? { error: error.reason } : {}),
      ...(row.lost && !session ? { gone: true } : {}),
    };
  });
}
