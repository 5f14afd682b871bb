import type { HostView } from '../../protocol/api.js';
import type { HostInventory } from '../../protocol/agent-messages.js';
import type { AgentHub } from '../agent-hub.js';
import type { Db } from '../store/database.js';
import type { HostError } from '../host-health.js';

/** `qhost`: every host that ever joined, with live load and memory for connected ones, and its error state. */
export function hostViews(db: Db, hub: AgentHub, errors: ReadonlyMap<string, HostError> = new Map()): HostView[] {
  const rows = db.prepare('SELECT agent_id, hello, disabled, last_seen FROM hosts ORDER BY hostname').all() as {
    agent_id: string;
    hello: string;
    disabled: number;
    last_seen: number;
  }[];
  return rows.map((row) => {
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
    };
  });
}
