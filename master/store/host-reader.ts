import { perDatabase, StoreReader } from './store-reader.js';

/** A host as `qhost` lists it: its inventory (hello, JSON) and what the master recorded. */
export interface HostListRow {
  agent_id: string;
  hello: string;
  disabled: number;
  last_seen: number;
  lost: number;
}

/** A host's inventory (hello, JSON) and the group it joined. */
export interface HostInventoryRow {
  hostname: string;
  group_name: string;
  hello: string;
}

/** Whether a host must get no new work after it reconnects. */
export interface HostDrainRow {
  draining: number;
  interrupted_at: number | null;
}

/** Names a `qsub -q` list may use: groups (created or joined) and hosts the master has seen. */
export interface KnownQueues {
  groups: string[];
  hosts: string[];
}

/** Read-only queries about hosts, for qhost, the scheduler, queue checks and the groups. */
export class HostReader extends StoreReader {
  /** Every host that ever joined, by hostname. */
  list(): HostListRow[] {
    return this.q('SELECT agent_id, hello, disabled, last_seen, lost FROM hosts ORDER BY hostname').all() as HostListRow[];
  }

  inventories(): HostInventoryRow[] {
    return this.q('SELECT hostname, group_name, hello FROM hosts').all() as HostInventoryRow[];
  }

  /** Hosts disabled with `qmod -d`: the scheduler gives them nothing (asked on every pass). */
  disabledHostnames(): string[] {
    return this.q('SELECT hostname FROM hosts WHERE disabled = 1').pluck().all() as string[];
  }

  isKnown(hostname: string): boolean {
    return this.q('SELECT 1 FROM hosts WHERE hostname = ?').get(hostname) !== undefined;
  }

  groupOf(agentId: string): string | undefined {
    return this.q('SELECT group_name FROM hosts WHERE agent_id = ?').pluck().get(agentId) as string | undefined;
  }

  drainState(agentId: string): HostDrainRow | undefined {
    return this.q('SELECT draining, interrupted_at FROM hosts WHERE agent_id = ?').get(agentId) as HostDrainRow | undefined;
  }

  /** Inventories (hello, JSON) of a group's hosts that were reclaimed or got a spot notice. */
  interruptedInventories(groupName: string): string[] {
    return this.q('SELECT hello FROM hosts WHERE group_name = ? AND (interrupted_at IS NOT NULL OR spot_termination IS NOT NULL)')
      .pluck()
      .all(groupName) as string[];
  }

  knownQueues(): KnownQueues {
    return {
      groups: [
        ...(this.q('SELECT name FROM groups').pluck().all() as string[]),
        ...(this.q('SELECT DISTINCT group_name FROM hosts').pluck().all() as string[]),
      ],
      hosts: this.q('SELECT DISTINCT hostname FROM hosts').pluck().all() as string[],
    };
  }
}

/** The store's host reader, one per database. */
export const hostReader = perDatabase((db) => new HostReader(db));
