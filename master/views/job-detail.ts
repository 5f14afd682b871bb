import type { JobDetail, TaskDetail } from '../../protocol/api.js';
import type { JobSubmission } from '../../protocol/job-spec.js';
import type { TaskUsage } from '../../protocol/agent-messages.js';
import type { AgentHub } from '../agent-hub.js';
import { hostMismatch } from '../host-match.js';
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
    deleted: job.deleted === 1,
    tasks,
    schedulingInfo: pendingCount > 0 ? schedulingInfo(hub, job, spec, waitingFor) : [],
  };
}

/** One line per reason, in the spirit of SGE's "scheduling info", with what to do about it. */
function schedulingInfo(hub: AgentHub, job: JobRow, spec: JobSubmission, waitingFor: number[]): string[] {
  if (job.user_hold) return [`job is in user hold: release it with 'qrls ${job.id}'`];
  if (waitingFor.length > 0) return [`job dropped because of job dependencies: waiting for job(s) ${waitingFor.join(',')} to finish`];
  const sessions = hub.sessionsList();
  if (sessions.length === 0) return [`no execution hosts are connected: start agents with 'qfarm agent' or 'qfarm up'`];
  const lines: string[] = [];
  for (const s of sessions) {
    const mismatch = hostMismatch(spec, { hello: s.hello, memUsedBytes: s.memUsedBytes });
    if (mismatch) lines.push(`queue instance "${s.group}@${s.hostname}" dropped: ${mismatch}`);
    else if (s.freeSlots() < job.slots) lines.push(`queue instance "${s.group}@${s.hostname}" dropped because it is full`);
  }
  if (lines.length === sessions.length) lines.push('All queues dropped because of overload or full');
  return lines;
}
