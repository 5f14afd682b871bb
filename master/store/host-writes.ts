import type { HostInventory } from '../../protocol/agent-messages.js';
import { runTransaction } from './database.js';
import type { AttemptWrites } from './attempt-writes.js';
import type { WriteContext } from './write-context.js';

/**
 * Writes of the hosts table: inventory, heartbeats, and the marks the admin and the autoscaler
 * put on a host (disabled, draining, lost, reclaimed). A host whose machine is gone takes its
 * attempts back to the queue in the same transaction (attempt-writes.ts).
 */
export class HostWrites {
  constructor(
    private readonly ctx: WriteContext,
    private readonly attempts: AttemptWrites,
  ) {}

  upsertHost(hello: HostInventory): void {
    const now = this.ctx.clock.now();
    this.ctx
      .q(
        `INSERT INTO hosts (agent_id, hostname, group_name, hello, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (agent_id) DO UPDATE SET hostname = excluded.hostname, group_name = excluded.group_name,
           hello = excluded.hello, last_seen = excluded.last_seen`,
      )
      .run(hello.agentId, hello.hostname, hello.group, JSON.stringify(hello), now, now);
  }

  /**
   * Heartbeats of many agents in one transaction (20,000 agents would otherwise be 4,000 commits
   * a second), with the end of each one's last attempt if it changed since (host-last-ends.ts).
   */
  touchHosts(agentIds: Iterable<string>): void {
    const now = this.ctx.clock.now();
    const touch = this.ctx.q('UPDATE hosts SET last_seen = ? WHERE agent_id = ?');
    const ids = [...agentIds];
    this.writeLastEnds(this.ctx.hostEnds.take(ids), () => {
      for (const agentId of ids) touch.run(now, agentId);
    });
  }

  /** Every host's last attempt end not yet on its row: at the master's stop. */
  writeHostLastEnds(): void {
    this.writeLastEnds(this.ctx.hostEnds.take(), () => {});
  }

  unwrittenLastEndOf(agentId: string): number | undefined {
    return this.ctx.hostEnds.unwrittenOf(agentId);
  }

  /** `ends` taken from memory onto the hosts' rows, with `alongside` in the same transaction; kept in memory if it fails. */
  private writeLastEnds(ends: readonly [agentId: string, endedAt: number][], alongside: () => void): void {
    const write = this.ctx.q('UPDATE hosts SET last_ended_at = MAX(COALESCE(last_ended_at, 0), ?) WHERE agent_id = ?');
    try {
      runTransaction(this.ctx.db, () => {
        alongside();
        for (const [agentId, endedAt] of ends) write.run(endedAt, agentId);
      });
    } catch (err) {
      this.ctx.hostEnds.restore(ends);
      throw err;
    }
  }

  setHostDisabled(hostname: string, disabled: boolean): boolean {
    const { q, events } = this.ctx;
    const info = q('UPDATE hosts SET disabled = ? WHERE hostname = ?').run(disabled ? 1 : 0, hostname);
    if (info.changes > 0) events.emit('host:state-changed', hostname);
    if (!disabled) events.emit('schedule:wanted', `host ${hostname} enabled`);
    return info.changes > 0;
  }

  /** The host's machine is gone (the provider no longer lists it): lost now, its attempts requeued. */
  markHostLost(agentId: string, reason: string): number {
    const { db, q } = this.ctx;
    return runTransaction(db, () => {
      q('UPDATE hosts SET lost = 1 WHERE agent_id = ?').run(agentId);
      const ids = q('SELECT id FROM attempts WHERE agent_id = ? AND ended_at IS NULL').pluck().all(agentId) as string[];
      return this.attempts.requeueAttempts(ids, reason);
    });
  }

  /** The host's machine is being reclaimed: drained, and the attempts that cannot finish in time requeued as interrupted. */
  markHostInterrupted(agentId: string, requeue: readonly string[], reason: string): number {
    const { db, q, clock } = this.ctx;
    return runTransaction(db, () => {
      q('UPDATE hosts SET interrupted_at = COALESCE(interrupted_at, ?), draining = 1 WHERE agent_id = ?').run(clock.now(), agentId);
      return this.attempts.interruptAttempts(requeue, reason);
    });
  }

  recordSpotNotice(agentId: string, terminationTime: string): void {
    this.ctx.q('UPDATE hosts SET spot_termination = ? WHERE agent_id = ?').run(terminationTime, agentId);
  }

  setHostDraining(agentId: string, draining: boolean): void {
    this.ctx.q('UPDATE hosts SET draining = ? WHERE agent_id = ?').run(draining ? 1 : 0, agentId);
  }

  /** A host that says hello is not lost. */
  markHostFound(agentId: string): void {
    this.ctx.q('UPDATE hosts SET lost = 0 WHERE agent_id = ? AND lost = 1').run(agentId);
  }

  /**
   * A provider reuses a machine id (the local provider's names after a master restart): the new
   * machine starts with none of the old one's marks.
   */
  resetHostsOfInstance(instanceId: string): void {
    this.ctx
      .q(
        `UPDATE hosts SET lost = 0, interrupted_at = NULL, spot_termination = NULL, draining = 0
         WHERE json_extract(hello, '$.labels."qfarm.instance-id"') = ?`,
      )
      .run(instanceId);
  }
}
