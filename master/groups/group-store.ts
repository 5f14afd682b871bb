import os from 'node:os';
import type { AgentHello } from '../../protocol/agent-messages.js';
import { compileGroupSpec, type GroupSpec, type GroupSpecInput } from '../../protocol/groups.js';
import type { JobSubmission } from '../../protocol/job-spec.js';
import type { AgentView, PendingWork, RunningTask, ScalingHistory } from './scaling-state.js';
import { INSTANCE_ID_LABEL } from '../providers/local-provider.js';
import type { Db } from '../store/database.js';
import type { JobReader, JobRow } from '../store/job-reader.js';

/**
 * Reads of the groups table and the views the autoscaler needs (pending work, agents), built
 * from the store and the hub. Writes go through Transitions.
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

export function groupRows(db: Db): GroupRow[] {
  return (db.prepare('SELECT * FROM groups ORDER BY name').all() as RawGroupRow[]).map(toRow);
}

export function groupRow(db: Db, name: string): GroupRow | undefined {
  const r = db.prepare('SELECT * FROM groups WHERE name = ?').get(name) as RawGroupRow | undefined;
  return r && toRow(r);
}

/**
 * The group every farm has from its first start: local agents, autoscaling off and size 0, so
 * that `qfarm up` (which starts its own agents) and agents started by hand are never fought
 * over. `qfarm group update default --autoscale` lets the master start local agents itself.
 */
export function defaultGroupSpec(): GroupSpec {
  const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return compileGroupSpec({ name: 'default', provider: 'local', minSize: 0, maxSize: Math.max(1, cpus), slotsPerInstance: 1, autoscale: { enabled: false } });
}

/** A compiled spec as an input again (nulls dropped), to merge an update into and recompile. */
export function specAsInput(spec: GroupSpec): GroupSpecInput {
  const { hourlyPrice, ecs, batchcompute, image, ...rest } = spec;
  return {
    ...rest,
    ...(image === '' ? {} : { image }),
    ...(hourlyPrice === null ? {} : { hourlyPrice }),
    ...(ecs === null ? {} : { ecs }),
    ...(batchcompute === null ? {} : { batchcompute }),
  };
}

// ---------------------------------------------------------------- which jobs a group serves

/** True if a job's `-q` list (null: any group) names this group (`g`, `g@host`, globs). */
export function queueNamesGroup(queue: string | null | undefined, group: string): boolean {
  if (!queue) return true;
  return queue.split(',').some((entry) => glob((entry.trim().split('@', 2)[0] || '*'), group));
}

function glob(pattern: string, value: string): boolean {
  if (pattern === '*' || pattern === value) return true;
  if (!pattern.includes('*') && !pattern.includes('?')) return false;
  return new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$').test(value);
}

/** A job may run in the group: its queue names it, and its `-l` requests match the labels the group defines. */
export function jobFitsGroup(job: Pick<JobRow, 'queue'>, sub: JobSubmission, spec: GroupSpec): boolean {
  if (!queueNamesGroup(job.queue, spec.name)) return false;
  for (const [name, wanted] of Object.entries(sub.resources.other)) {
    const have = spec.labels[name];
    if (have !== undefined && !glob(wanted, have)) return false;
  }
  return true;
}

/** Mean wall time (s) of a job's finished attempts; undefined when none finished yet. */
export function expectedSeconds(db: Db, jobId: number): number | undefined {
  const r = db
    .prepare(`SELECT AVG(ended_at - started_at) AS ms FROM attempts WHERE job_id = ? AND state = 'done' AND started_at IS NOT NULL AND ended_at IS NOT NULL`)
    .get(jobId) as { ms: number | null };
  return r.ms === null ? undefined : Math.max(0.001, r.ms / 1000);
}

/** Queued work the group could run: one row per runnable job (held and dependency-waiting jobs are not work yet). */
export function pendingWorkFor(db: Db, reader: JobReader, spec: GroupSpec): PendingWork[] {
  const out: PendingWork[] = [];
  for (const job of reader.runnableJobs(1000)) {
    const sub = JSON.parse(job.spec) as JobSubmission;
    if (!jobFitsGroup(job, sub, spec)) continue;
    const count = reader.pendingCount(job);
    if (count <= 0) continue;
    const expected = expectedSeconds(db, job.id);
    out.push({ slots: job.slots, count, ...(expected === undefined ? {} : { expectedSeconds: expected }) });
  }
  return out;
}

interface HostRow {
  agent_id: string;
  hello: string;
  first_seen: number;
  last_seen: number;
  lost: number;
  interrupted_at: number | null;
  spot_termination: string | null;
  draining: number;
}

/**
 * The group's agents as the autoscaler sees them. Only machines a provider started (their
 * hello carries `qfarm.instance-id`) are managed; agents started by hand count as capacity
 * while connected and are otherwise left to the lease grace period, never marked lost.
 */
export function agentViewsFor(db: Db, group: string, isConnected: (agentId: string) => boolean): AgentView[] {
  const hosts = db
    .prepare('SELECT agent_id, hello, first_seen, last_seen, lost, interrupted_at, spot_termination, draining FROM hosts WHERE group_name = ?')
    .all(group) as HostRow[];
  const active = db.prepare(
    `SELECT a.id, a.job_id, a.started_at, a.leased_at, j.slots FROM attempts a JOIN jobs j ON j.id = a.job_id
     WHERE a.agent_id = ? AND a.state IN ('leased', 'running')`,
  );
  const lastEnded = db.prepare('SELECT MAX(ended_at) FROM attempts WHERE agent_id = ?').pluck();
  const expectedCache = new Map<number, number | undefined>();
  const views: AgentView[] = [];
  for (const h of hosts) {
    const hello = JSON.parse(h.hello) as AgentHello;
    const instanceId = hello.labels[INSTANCE_ID_LABEL];
    const connected = isConnected(h.agent_id);
    if (h.lost && !connected) continue;
    if (!instanceId && !connected) continue;
    const rows = active.all(h.agent_id) as { id: string; job_id: number; started_at: number | null; leased_at: number; slots: number }[];
    const running: RunningTask[] = rows.map((r) => {
      if (!expectedCache.has(r.job_id)) expectedCache.set(r.job_id, expectedSeconds(db, r.job_id));
      const expected = expectedCache.get(r.job_id);
      return { attemptId: r.id, startedAt: r.started_at ?? r.leased_at, slots: r.slots, ...(expected === undefined ? {} : { expectedSeconds: expected }) };
    });
    const ended = (lastEnded.get(h.agent_id) as number | null) ?? 0;
    views.push({
      agentId: h.agent_id,
      ...(instanceId ? { instanceId } : {}),
      slots: hello.slots,
      connected,
      lastSeen: h.last_seen,
      running,
      ...(running.length === 0 ? { idleSince: Math.max(ended, h.first_seen) } : {}),
      draining: h.draining === 1,
      ...(h.spot_termination ? { spotTerminationTime: h.spot_termination } : {}),
      ...(h.lost ? { lost: true } : {}),
      ...(h.interrupted_at !== null ? { interrupted: true } : {}),
    });
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
