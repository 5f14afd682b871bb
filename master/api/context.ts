import type { Logger } from 'pino';
import type { GroupService } from '../groups/group-service.js';
import type { HostHealth } from '../host-health.js';
import type { AgentHub } from '../agent-hub.js';
import type { MasterEventBus } from '../events.js';
import type { LogStore } from '../log-store.js';
import type { Scheduler } from '../scheduler.js';
import type { TickTransaction } from '../store/tick-transaction.js';
import type { Db } from '../store/database.js';
import type { JobReader } from '../store/job-reader.js';
import type { Transitions } from '../store/transitions.js';
import type { IdentityStore } from '../store/identity-store.js';
import type { UserDatabase } from './user-database.js';

/** What the HTTP routes work with. */
export interface ApiContext {
  db: Db;
  reader: JobReader;
  transitions: Transitions;
  hub: AgentHub;
  scheduler: Scheduler;
  events: MasterEventBus;
  logs: LogStore;
  log: Logger;
  version: string;
  /** Per-user tokens and managers. */
  identities: IdentityStore;
  /** Accounts of the master machine (getent), for identities and token issuing. */
  users: UserDatabase;
  /** Groups and autoscaling (set by the master once it listens). */
  groups?: GroupService;
  /** Hosts' error state `E` (black-hole nodes). */
  health?: HostHealth;
  /** The turn's transaction: output chunks reach the logs when it commits (store/tick-transaction.ts). */
  tick: TickTransaction;
}
