/**
 * When each host's last attempt ended, from which the autoscaler counts a host idle
 * (hosts.last_ended_at). Written to the host's row with its last_seen (host-writes.ts
 * touchHosts, every 30 s per connected host and when it leaves) and at the master's stop, not as
 * each attempt ends: that was one more row, on a page of its own, in every result's commit (a
 * host's row holds its inventory, so 2,000 hosts fill hundreds of pages).
 *
 * What a master killed with SIGKILL had not written is lost: a host idle since then counts as
 * idle up to 30 s longer than it was, so the autoscaler may let it go that much sooner. Nothing
 * runs on a host counted idle (idle means no live attempt), so no work is lost with it.
 */
export class HostLastEnds {
  /** Ends not yet on the hosts' rows, by agent id. */
  private readonly unwritten = new Map<string, number>();

  /**
   * An attempt of `agentId` ended at `endedAt`. Called inside the transaction that ended it; a
   * change undone after that leaves a later end here, which only keeps the host a little longer.
   */
  noted(agentId: string, endedAt: number): void {
    const known = this.unwritten.get(agentId);
    if (known === undefined || endedAt > known) this.unwritten.set(agentId, endedAt);
  }

  /** The end not yet written for this host, if any (newer than its row's then). */
  unwrittenOf(agentId: string): number | undefined {
    return this.unwritten.get(agentId);
  }

  /** The unwritten ends of these hosts (all of them without `agentIds`), handed over to be written. */
  take(agentIds?: Iterable<string>): [agentId: string, endedAt: number][] {
    if (!agentIds) {
      const all = [...this.unwritten];
      this.unwritten.clear();
      return all;
    }
    const taken: [string, number][] = [];
    for (const agentId of agentIds) {
      const endedAt = this.unwritten.get(agentId);
      if (endedAt === undefined) continue;
      taken.push([agentId, endedAt]);
      this.unwritten.delete(agentId);
    }
    return taken;
  }

  /** A write that failed: its ends are kept for the next one (unless newer ones came meanwhile). */
  restore(taken: readonly [string, number][]): void {
    for (const [agentId, endedAt] of taken) this.noted(agentId, endedAt);
  }
}
