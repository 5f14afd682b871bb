import type { Clock } from '../clock.js';
import type { MasterEventBus } from '../events.js';
import type { Db } from './database.js';
import { AttemptWrites } from './attempt-writes.js';
import { GroupWrites } from './group-store.js';
import { HostWrites } from './host-writes.js';
import { JobWrites } from './job-writes.js';
import { PermissionError } from './ownership.js';
import { DEFAULT_TASK_RETRY_POLICY, type TaskRetryPolicy } from './task-retries.js';
import { writeContext } from './write-context.js';

export { CommitOutcome, OutputSeq, type HostRef, type Lease } from './attempt-writes.js';
export type { AlterOutcome, DeleteOutcome, HoldOutcome, RerunOutcome } from './job-writes.js';
export { JobNotFoundError } from './write-context.js';
export { PermissionError };

/**
 * The one entry point for every write to jobs, tasks, attempts, hosts and groups. Each write is
 * a named function running in one transaction, kept by its table family:
 * job-writes.ts (submit, hold, alter, delete, rerun), attempt-writes.ts (lease, start, result,
 * loss), host-writes.ts, group-store.ts. Nothing else in the master writes those tables.
 * The methods below only pass through, so callers need not know which family holds a write.
 */
export class Transitions {
  readonly jobs: JobWrites;
  readonly attempts: AttemptWrites;
  readonly hosts: HostWrites;
  readonly groups: GroupWrites;

  constructor(db: Db, clock: Clock, events: MasterEventBus, retries: TaskRetryPolicy = DEFAULT_TASK_RETRY_POLICY) {
    const ctx = writeContext(db, clock, events);
    this.jobs = new JobWrites(ctx);
    this.attempts = new AttemptWrites(ctx, retries);
    this.hosts = new HostWrites(ctx, this.attempts);
    this.groups = new GroupWrites(ctx);
  }

  // jobs
  submitJob(...a: Parameters<JobWrites['submitJob']>) { return this.jobs.submitJob(...a); }
  setUserHold(...a: Parameters<JobWrites['setUserHold']>) { return this.jobs.setUserHold(...a); }
  rerunFailedTasks(...a: Parameters<JobWrites['rerunFailedTasks']>) { return this.jobs.rerunFailedTasks(...a); }
  alterJob(...a: Parameters<JobWrites['alterJob']>) { return this.jobs.alterJob(...a); }
  deleteJob(...a: Parameters<JobWrites['deleteJob']>) { return this.jobs.deleteJob(...a); }

  // attempts
  leaseTasks(...a: Parameters<AttemptWrites['leaseTasks']>) { return this.attempts.leaseTasks(...a); }
  markStarted(...a: Parameters<AttemptWrites['markStarted']>) { return this.attempts.markStarted(...a); }
  commitResult(...a: Parameters<AttemptWrites['commitResult']>) { return this.attempts.commitResult(...a); }
  requeueAttempts(...a: Parameters<AttemptWrites['requeueAttempts']>) { return this.attempts.requeueAttempts(...a); }
  interruptAttempts(...a: Parameters<AttemptWrites['interruptAttempts']>) { return this.attempts.interruptAttempts(...a); }
  acceptOutputSeq(...a: Parameters<AttemptWrites['acceptOutputSeq']>) { return this.attempts.acceptOutputSeq(...a); }
  recordUsage(...a: Parameters<AttemptWrites['recordUsage']>) { return this.attempts.recordUsage(...a); }

  // hosts
  upsertHost(...a: Parameters<HostWrites['upsertHost']>) { return this.hosts.upsertHost(...a); }
  touchHosts(...a: Parameters<HostWrites['touchHosts']>) { return this.hosts.touchHosts(...a); }
  writeHostLastEnds(...a: Parameters<HostWrites['writeHostLastEnds']>) { return this.hosts.writeHostLastEnds(...a); }
  /** When a host's last attempt ended, if that is newer than its row says (host-last-ends.ts). */
  unwrittenLastEndOf(agentId: string): number | undefined { return this.hosts.unwrittenLastEndOf(agentId); }
  setHostDisabled(...a: Parameters<HostWrites['setHostDisabled']>) { return this.hosts.setHostDisabled(...a); }
  markHostLost(...a: Parameters<HostWrites['markHostLost']>) { return this.hosts.markHostLost(...a); }
  markHostInterrupted(...a: Parameters<HostWrites['markHostInterrupted']>) { return this.hosts.markHostInterrupted(...a); }
  recordSpotNotice(...a: Parameters<HostWrites['recordSpotNotice']>) { return this.hosts.recordSpotNotice(...a); }
  setHostDraining(...a: Parameters<HostWrites['setHostDraining']>) { return this.hosts.setHostDraining(...a); }
  markHostFound(...a: Parameters<HostWrites['markHostFound']>) { return this.hosts.markHostFound(...a); }
  resetHostsOfInstance(...a: Parameters<HostWrites['resetHostsOfInstance']>) { return this.hosts.resetHostsOfInstance(...a); }

  // groups
  createGroup(...a: Parameters<GroupWrites['createGroup']>) { return this.groups.createGroup(...a); }
  updateGroup(...a: Parameters<GroupWrites['updateGroup']>) { return this.groups.updateGroup(...a); }
  setGroupDeleting(...a: Parameters<GroupWrites['setGroupDeleting']>) { return this.groups.setGroupDeleting(...a); }
  deleteGroup(...a: Parameters<GroupWrites['deleteGroup']>) { return this.groups.deleteGroup(...a); }
  recordGroupDecision(...a: Parameters<GroupWrites['recordGroupDecision']>) { return this.groups.recordGroupDecision(...a); }
}
