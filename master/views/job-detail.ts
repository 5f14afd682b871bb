import type { JobDetail, TaskDetail } from '../../protocol/api.js';
import type { JobSubmission } from '../../protocol/job-spec.js';
import type { TaskUsage } from '../../protocol/agent-messages.js';
import type { AgentHub } from '../agent-hub.js';
import { hostMismatch } from '../../protocol/host-match.js';
import type { Db } from '../store/database.js';
import type { JobReader, JobRow } from '../store/job-reader.js';

/** `qstat -j`: the job as submitted, running tasks with usage, and why pending tasks wait. */
export function jobDetail(db: Db, reader: JobReader, hub: AgentHub, job: JobRow): JobDetail {
  const spec = JSON.parse(job.spec) as JobSubmission;
  const waitingFor = reader.waitingFor(job.id);
  const active = db
    .prepare(
      `SELECT t.task_id, t.state, t.delete_requested, a.hostname, a.group_name, a.started_at, a.usage
       FROM tasks t JOIN attempts a ON a.id = t.attempt_id
       WHERE t.job_id = ? AND t.state IN ('leased', 'running') ORDER BY t.task_id`,
    )
    .all(job.id) as { task_id: number; state: string; delete_requested: number; hostname: string; group_name: string; started_at: number | null; usage: string | null }[];
  const tasks: TaskDetail[] = active.map((t) => ({
    taskId: job.is_array ? t.task_id : null,
    state: t.delete_requested ? 'dr' : t.state === 'leased' ? 't' : 'r',
    host: `${t.group_name}@${t.hostname}`,
    startTime: t.started_at,
    usage: t.usage ? (JSON.parse(t.usage) as TaskUsage) : null,
  }));
  const pendingCount = job.deleted || job.finished ? 0 : reader.pendingCount(job);
  return {
    jobId: job.id,
    name: job.name,
    submitter: spec.submitter,
    submitHost: spec.submitHost,
    submitTime: job.submit_time,
    command: spec.command,
    shell: spec.shell ?? '/bin/sh',
    cwd: spec.cwd,
    submitCwd: spec.submitCwd,
    stdoutPath: spec.stdoutPath ?? null,
    stderrPath: spec.stderrPath ?? null,
    joinOutput: spec.joinOutput,
    env: spec.env,
    array: job.is_array ? { first: job.first_task, last: job.last_task, step: job.step } : null,
    hold: job.user_hold === 1,
    waitingFor,
    holdJobs: reader.holdJobs(job.id),
    priority: job.priority,
    queue: job.queue,
    slots: job.slots,
    resources: spec.resources,
    pty: spec.pty,
    ...(spec.data ? { data: spec.data } : {}),
    deleted: job.deleted === 1,
    tasks,
    schedulingInfo: pendingCount > 0 ? schedulingInfo(hub, job, spec, waitingFor, disabledHosts(db), hostsInError(db)) : [],
    holdJobsRequested: spec.holdJobs,
    holdJobsArray: db.prepare('SELECT depends_on FROM job_deps WHERE job_id = ? AND per_task = 1 ORDER BY depends_on').pluck().all(job.id) as number[],
    successors: successors(db, job.id, 0),
    arraySuccessors: successors(db, job.id, 1),
    ...(spec.notify !== undefined ? { notify: spec.notify } : {}),
    ...(spec.startAfter !== undefined ? { startAfter: spec.startAfter } : {}),
    ...(spec.rerun !== undefined ? { rerun: spec.rerun } : {}),
    errors: taskErrors(db, job),
  };
}

/** Why the job's finished tasks failed, from their last attempts (the reason the agent gave). */
function taskErrors(db: Db, job: JobRow): NonNullable<JobDetail['errors']> {
  const rows = db
    .prepare(
      `SELECT t.task_id, a.ended_at, a.failed_reason FROM tasks t JOIN attempts a ON a.id = t.attempt_id
       WHERE t.job_id = ? AND t.state = 'done' AND t.failed_code != 0 AND a.failed_reason != ''
       ORDER BY a.ended_at DESC LIMIT 100`,
    )
    .all(job.id) as { task_id: number; ended_at: number | null; failed_reason: string }[];
  return rows.reverse().map((r) => ({ taskId: job.is_array ? r.task_id : null, time: r.ended_at ?? 0, reason: r.failed_reason }));
}

/** Unfinished jobs that wait for this one, whole-job (0) or per task (1). */
function successors(db: Db, jobId: number, perTask: 0 | 1): number[] {
  return db
    .prepare('SELECT d.job_id FROM job_deps d JOIN jobs j ON j.id = d.job_id WHERE d.depends_on = ? AND d.per_task = ? AND j.finished = 0 ORDER BY d.job_id')
    .pluck()
    .all(jobId, perTask) as number[];
}

/** One line per reason, in the spirit of SGE's "scheduling info", with what to do about it. */
function disabledHosts(db: Db): Set<string> {
  return new Set(db.prepare('SELECT hostname FROM hosts WHERE disabled = 1').pluck().all() as string[]);
}

/** Hosts in error state `E` (master/host-health.ts keeps the table; absent before it first ran). */
function hostsInError(db: Db): Set<string> {
  const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'host_errors'`).get() !== undefined;
  return new Set(exists ? (db.prepare('SELECT hostname FROM host_errors').pluck().all() as string[]) : []);
}

function schedulingInfo(hub: AgentHub, job: JobRow, spec: JobSubmission, waitingFor: number[], disabled: ReadonlySet<string>, inError: ReadonlySet<string>): string[] {
  // SGE 8.1.9's own words (test/fixtures/sge/): `Job is in hold state`, `execution time not reached`.
  if (job.user_hold) return ['Job is in hold state'];
  if (spec.startAfter !== undefined && spec.startAfter > Date.now()) return ['execution time not reached'];
  if (waitingFor.length > 0) return [`job dropped because of job dependencies: waiting for job(s) ${waitingFor.join(',')} to finish`];
  const sessions = hub.sessionsList();
  if (sessions.length === 0) return [`no execution hosts are connected: start agents with 'qfarm agent' or 'qfarm up'`];
  const lines: string[] = [];
  for (const s of sessions) {
    const mismatch = hostMismatch(spec, { hello: s.hello, memUsedBytes: s.memUsedBytes });
    if (disabled.has(s.hostname)) lines.push(`queue instance "${s.group}@${s.hostname}" dropped because it is disabled`);
    // SGE 8.1.9's words for a queue instance in error state (test/fixtures/sge/host-error.txt).
    else if (inError.has(s.hostname)) lines.push(`queue instance "${s.group}@${s.hostname}" dropped because it is temporarily not available`);
    else if (mismatch) lines.push(`queue instance "${s.group}@${s.hostname}" dropped: ${mismatch}`);
    else if (s.freeSlots() < job.slots) lines.push(`queue instance "${s.group}@${s.hostname}" dropped because it is full`);
  }
  if (lines.length === sessions.length) lines.push('All queues dropped because of overload or full');
  return lines;
}
