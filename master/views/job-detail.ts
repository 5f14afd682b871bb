import type { JobDetail, TaskDetail } from '../../protocol/api.js';
import type { JobSubmission } from '../../protocol/job-spec.js';
import type { TaskUsage } from '../../protocol/agent-messages.js';
import type { AgentHub } from '../agent-hub.js';
import { hostMismatch } from '../../protocol/host-match.js';
import type { Db } from '../store/database.js';
import { hostnamesInError } from '../store/host-errors.js';
import { hostReader } from '../store/host-reader.js';
import type { JobReader, JobRow } from '../store/job-reader.js';
import { qstatReader, type QstatReader } from '../store/qstat-reader.js';
import { TaskState } from '../states.js';
import { listedByQstat } from './qstat-rows.js';

/** `qstat -j`: the job as submitted, running tasks with usage, and why pending tasks wait. */
export function jobDetail(db: Db, reader: JobReader, hub: AgentHub, job: JobRow): JobDetail {
  const spec = JSON.parse(job.spec) as JobSubmission;
  const waitingFor = reader.waitingFor(job.id);
  const store = qstatReader(db);
  const tasks: TaskDetail[] = store.activeTasks(job.id).map((t) => ({
    taskId: job.is_array ? t.task_id : null,
    state: t.delete_requested ? 'dr' : t.state === TaskState.Leased ? 't' : 'r',
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
    listed: listedByQstat(db, reader, job),
    tasks,
    schedulingInfo: pendingCount > 0 ? schedulingInfo(hub, job, spec, waitingFor, new Set(hostReader(db).disabledHostnames()), new Set(hostnamesInError(db))) : [],
    holdJobsRequested: spec.holdJobs,
    holdJobsArray: store.perTaskHoldJobs(job.id),
    successors: store.successors(job.id, 0),
    arraySuccessors: store.successors(job.id, 1),
    ...(spec.notify !== undefined ? { notify: spec.notify } : {}),
    ...(spec.startAfter !== undefined ? { startAfter: spec.startAfter } : {}),
    ...(spec.rerun !== undefined ? { rerun: spec.rerun } : {}),
    errors: taskErrors(store, job),
  };
}

/** Why the job's finished tasks failed, from their last attempts (the reason the agent gave). */
function taskErrors(store: QstatReader, job: JobRow): NonNullable<JobDetail['errors']> {
  const rows = store.taskFailures(job.id, 100);
  return rows.reverse().map((r) => ({ taskId: job.is_array ? r.task_id : null, time: r.ended_at ?? 0, reason: r.failed_reason }));
}

/** One line per reason, in the spirit of SGE's "scheduling info", with what to do about it. */
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
