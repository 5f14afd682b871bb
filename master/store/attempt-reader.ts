import { AttemptState } from '../states.js';
import { perDatabase, StoreReader } from './store-reader.js';

/** Which job and task an attempt ran. */
export interface AttemptRefRow {
  job_id: number;
  task_id: number;
}

/** An attempt's state and the agent it was leased to (for life). */
export interface AttemptHolderRow {
  state: string;
  agent_id: string;
}

/** A lease an agent holds, with what the hub needs to reattach it. */
export interface ActiveAttemptRow {
  id: string;
  job_id: number;
  task_id: number;
  slots: number;
  delete_requested: number;
}

/** An agent that holds at least one lease. */
export interface LeaseHolderRow {
  agent_id: string;
  hostname: string;
}

/** The newest attempt of a task: the one whose output `qfarm logs` and the dashboard show. */
export interface LatestAttemptRow {
  id: string;
  state: string;
  failed_code: number | null;
  failed_reason: string | null;
}

/**
 * Read-only queries about attempts, for the agent hub (every frame names one), the scheduler
 * and the log readers. Statements are compiled once: the hub asks on every result.
 */
export class AttemptReader extends StoreReader {
  /** The attempt's agent id, or undefined for an id the master never made. */
  owner(attemptId: string): string | undefined {
    return this.q('SELECT agent_id FROM attempts WHERE id = ?').pluck().get(attemptId) as string | undefined;
  }

  holder(attemptId: string): AttemptHolderRow | undefined {
    return this.q('SELECT state, agent_id FROM attempts WHERE id = ?').get(attemptId) as AttemptHolderRow | undefined;
  }

  ref(attemptId: string): AttemptRefRow | undefined {
    return this.q('SELECT job_id, task_id FROM attempts WHERE id = ?').get(attemptId) as AttemptRefRow | undefined;
  }

  /** The leases an agent holds now (its own, whether it is connected or not). */
  activeOf(agentId: string): ActiveAttemptRow[] {
    return this.q(
      `SELECT a.id, a.job_id, a.task_id, j.slots, t.delete_requested FROM attempts a
       JOIN jobs j ON j.id = a.job_id JOIN tasks t ON t.job_id = a.job_id AND t.task_id = a.task_id
       WHERE a.agent_id = ? AND a.ended_at IS NULL`,
    ).all(agentId) as ActiveAttemptRow[];
  }

  /** Every agent holding a lease (after a master restart, none of them is connected yet). */
  leaseHolders(): LeaseHolderRow[] {
    return this.q('SELECT DISTINCT agent_id, hostname FROM attempts WHERE ended_at IS NULL').all() as LeaseHolderRow[];
  }

  /** The task's newest attempt (by lease time, then insertion), or undefined if it never ran. */
  latestOf(jobId: number, taskId: number): LatestAttemptRow | undefined {
    return this.q(
      'SELECT id, state, failed_code, failed_reason FROM attempts WHERE job_id = ? AND task_id = ? ORDER BY leased_at DESC, rowid DESC LIMIT 1',
    ).get(jobId, taskId) as LatestAttemptRow | undefined;
  }

  /** Hosts where an attempt of the task failed for the node's reasons (the task was requeued). */
  hostsWhereFailed(jobId: number, taskId: number): string[] {
    return this.q(`SELECT DISTINCT hostname FROM attempts WHERE job_id = ? AND task_id = ? AND state = '${AttemptState.Failed}'`)
      .pluck()
      .all(jobId, taskId) as string[];
  }
}

/** The store's attempt reader, one per database. */
export const attemptReader = perDatabase((db) => new AttemptReader(db));
