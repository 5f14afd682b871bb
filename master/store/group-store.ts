import type { AgentHello } from '../../protocol/agent-messages.js';
import type { GroupSpec } from '../../protocol/groups.js';
import type { JobSubmission } from '../../protocol/job-spec.js';
import type { AgentView, PendingWork, RunningTask, ScalingHistory } from '../groups/scaling-state.js';
import { jobFitsGroup } from '../groups/job-fit.js';
import { INSTANCE_ID_LABEL } from '../providers/local-provider.js';
import { type Db, sqlLimit } from './database.js';
import type { JobReader } from './job-reader.js';
import type { WriteContext } from './write-context.js';

/**
 * The groups family of the store: writes of the groups table (GroupWrites, one statement
 * each), its reads, and the views the autoscaler needs (pending work, agents), built from the
 * store and the hub.
 */

export interface GroupRow {
  name: string;
  spec: GroupSpec;
  desired: number;
  history: ScalingHistory;
  lastError: string | null;
  reasons: string[];
  deleting: boolean;
}

interface RawGroupRow {
  name: string;
  spec: string;
  desired: number;
  history: string;
  last_error: string | null;
  reasons: string;
  deleting: number;
}

function toRow(r: RawGroupRow): GroupRow {
  return {
    name: r.name,
    spec: JSON.parse(r.spec) as GroupSpec,
    desired: r.desired,
    history: JSON.parse(r.history) as ScalingHistory,
    lastError: r.last_error,
    reasons: JSON.parse(r.reasons) as string[],
    deleting: r.deleting === 1,
  };
}

/** Writes of the groups table; `specJson` is always compileGroupSpec() output. */
export class GroupWrites {
  constructor(private readonly ctx: WriteContext) {}

  /** Stores a new group; false if one of that name exists. */
  createGroup(name: string, specJson: string): boolean {
    const now = this.ctx.clock.now();
    const info = this.ctx.q('INSERT OR IGNORE INTO groups (name, spec, created_at, updated_at) VALUES (?, ?, ?, ?)').run(name, specJson, now, now);
    return info.changes > 0;
  }

  updateGroup(name: string, specJson: string): boolean {
    return this.ctx.q('UPDATE groups SET spec = ?, updated_at = ? WHERE name = ?').run(specJson, this.ctx.clock.now(), name).changes > 0;
  }

  setGroupDeleting(name: string, deleting: boolean): boolean {
    return this.ctx.q('UPDATE groups SET deleting = ?, updated_at = ? WHERE name = ?').run(deleting ? 1 : 0, this.ctx.clock.now(), name).changes > 0;
  }

  deleteGroup(name: string): boolean {
    return this.ctx.q('DELETE FROM groups WHERE name = ?').run(name).changes > 0;
  }

  /** What the last autoscaler pass decided, for `qfarm group show`. */
  recordGroupDecision(name: string, d: { desired: number; reasons: string[]; historyJson: string; lastError: string | null }): void {
    this.ctx
      .q('UPDATE groups SET desired = ?, reasons = ?, history = ?, last_error = ?, updated_at = ? WHERE name = ?')
      .run(d.desired, JSON.stringify(d.reasons), d.historyJson, d.lastError, this.ctx.clock.now(), name);
  }
}

export function groupRows(db: Db): GroupRow[] {
  return (db.prepare('SELECT * FROM groups ORDER BY name').all() as RawGroupRow[]).map(toRow);
}

/** Just the names, for deciding which groups an event concerns (no specs parsed). */
export function groupNames(db: Db): string[] {
  return db.prepare('SELECT name FROM groups ORDER BY name').pluck().all() as string[];
}

export function groupRow(db: Db, name: string): GroupRow | undefined {
  const r = db.prepare('SELECT * FROM groups WHERE name = ?').get(name) as RawGroupRow | undefined;
  return r && toRow(r);
}

/** Mean wall time (s) of a job's done attempts (job_stats, kept as they finish); undefined when none finished yet. */
export function expectedSeconds(db: Db, jobId: number): number | undefined {
  const r = db.prepare('SELECT done_wall_ms * 1.0 / done_attempts FROM job_stats WHERE job_id = ? AND done_attempts > 0').pluck().get(jobId) as number | undefined;
  return r === undefined ? undefined : Math.max(0.001, r / 1000);
}

/**
 * Queued work the group could run: one row per runnable job (held and dependency-waiting jobs are
 * not work yet). `submissionOf` is the master's cache of parsed submissions (master/job-specs.ts):
 * a pass over 1,000 queued jobs would otherwise parse 1,000 of them, per group, every time.
 */
export function pendingWorkFor(
  db: Db,
  reader: JobReader,
  spec: GroupSpec,
  submissionOf: (jobId: number) => JobSubmission | undefined = (jobId) => {
    const stored = reader.spec(jobId);
    return stored === undefined ? undefined : (JSON.parse(stored) as JobSubmission);
  },
): PendingWork[] {
  const out: PendingWork[] = [];
  for (const job of reader.runnableJobs(1000)) {
    const sub = submissionOf(job.id);
    if (sub === undefined || !jobFitsGroup(job, sub, spec)) continue;
    const count = reader.pendingCount(job);
    if (count <= 0) continue;
    const expected = expectedSeconds(db, job.id);
    out.push({ slots: job.slots, count, ...(expected === undefined ? {} : { expectedSeconds: expected }) });
  }
  return out;
}

interface HostRow {
  agent_id: string;
  instance_id: string | null;
  slots: number;
  first_seen: number;
  last_seen: number;
  last_ended_at: number | null;
  lost: number;
  interrupted_at: number | null;
  spot_termination: string | null;
  draining: number;
}

interface LiveAttemptRow {
  id: string;
  job_id: number;
  started_at: number | null;
  leased_at: number;
  slots: number;
}

/** What the master knows of hosts beyond their rows. */
export interface HostsInMemory {
  isConnected(agentId: string): boolean;
  /** The end of the host's last attempt when newer than hosts.last_ended_at (host-last-ends.ts). */
  unwrittenLastEndOf(agentId: string): number | undefined;
}

/** Hosts of a group read per slice of agentViewsFor; the master's loop is free between two. */
export const VIEW_SLICE = 250;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The group's agents as the autoscaler sees them. Only machines a provider started (their
 * hello carries `qfarm.instance-id`) are managed; agents started by hand count as capacity
 * while connected and are otherwise left to the lease grace period, never marked lost.
 *
 * Read a slice of VIEW_SLICE hosts at a time (by agent id), with `between` (the next turn of the
 * event loop) after each: a group of 20,000 hosts takes about 200 ms to read here, and agents'
 * results must not wait behind it. A slice is its hosts' rows (with the end of each host's last
 * attempt, kept there as attempts end) and each host's live attempts, so the cost follows the
 * group's hosts and the work running now, never the farm's history. A host whose task ends
 * between two slices is seen as it was when its slice was read, as any view is by the time the
 * plan is applied.
 */
export async function agentViewsFor(db: Db, group: string, hosts: HostsInMemory, between: () => Promise<void> = nextTurn): Promise<AgentView[]> {
  const hostsAfter = db.prepare(
    `SELECT agent_id, json_extract(hello, ?) AS instance_id, json_extract(hello, '$.slots') AS slots,
            first_seen, last_seen, last_ended_at, lost, interrupted_at, spot_termination, draining
     FROM hosts WHERE group_name = ? AND agent_id > ? ORDER BY agent_id ${sqlLimit(VIEW_SLICE)}`,
  );
  // One seek of attempts_live per host: its live attempts, never its past ones.
  const liveOf = db.prepare(
    `SELECT a.id, a.job_id, a.started_at, a.leased_at, j.slots
     FROM attempts a JOIN jobs j ON j.id = a.job_id
     WHERE a.agent_id = ? AND a.ended_at IS NULL`,
  );
  const expectedCache = new Map<number, number | undefined>();
  const expectedOf = (jobId: number): number | undefined => {
    if (!expectedCache.has(jobId)) expectedCache.set(jobId, expectedSeconds(db, jobId));
    return expectedCache.get(jobId);
  };
  const views: AgentView[] = [];
  for (let after = ''; ; await between()) {
    const rows = hostsAfter.all(`$.labels."${INSTANCE_ID_LABEL}"`, group, after) as HostRow[];
    if (rows.length === 0) break;
    for (const h of rows) {
      const instanceId = h.instance_id ?? undefined;
      const connected = hosts.isConnected(h.agent_id);
      if (h.lost && !connected) continue;
      if (!instanceId && !connected) continue;
      const running: RunningTask[] = (liveOf.all(h.agent_id) as LiveAttemptRow[]).map((r) => {
        const expected = expectedOf(r.job_id);
        return { attemptId: r.id, startedAt: r.started_at ?? r.leased_at, slots: r.slots, ...(expected === undefined ? {} : { expectedSeconds: expected }) };
      });
      const idleSince = running.length === 0 ? Math.max(hosts.unwrittenLastEndOf(h.agent_id) ?? 0, h.last_ended_at ?? 0, h.first_seen) : undefined;
      views.push({
        agentId: h.agent_id,
        ...(instanceId ? { instanceId } : {}),
        slots: h.slots,
        connected,
        lastSeen: h.last_seen,
        running,
        ...(idleSince !== undefined ? { idleSince } : {}),
        draining: h.draining === 1,
        ...(h.spot_termination ? { spotTerminationTime: h.spot_termination } : {}),
        ...(h.lost ? { lost: true } : {}),
        ...(h.interrupted_at !== null ? { interrupted: true } : {}),
      });
    }
    if (rows.length < VIEW_SLICE) break;
    after = rows.at(-1)!.agent_id;
  }
  return views;
}

/** Hostname of the agent on each provider instance (by the `qfarm.instance-id` label, or the host's own name). */
export function agentNamesByInstance(db: Db, group: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of db.prepare('SELECT hostname, hello FROM hosts WHERE group_name = ?').all(group) as { hostname: string; hello: string }[]) {
    const id = (JSON.parse(r.hello) as AgentHello).labels[INSTANCE_ID_LABEL];
    out.set(id ?? r.hostname, r.hostname);
  }
  return out;
}
