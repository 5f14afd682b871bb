import { Type, type Static } from '@sinclair/typebox';
import { JobSubmission, SubmitResponse, TaskRange, ResourceRequest, Submitter, JobCommand } from './job-spec.js';
import { TaskUsage } from './agent-messages.js';
import { compile } from './validate.js';
import { JobData } from './job-data.js';
import { IdentityResponse, ManagerListResponse, ManagerRequest, TokenCreateRequest, TokenCreateResponse, TokenListResponse, TokenRevokeRequest } from './identity-api.js';

/**
 * Bodies of the HTTP API (`/api/v1`), shared by the master's routes and the CLI, which
 * validates every response it reads. Who asks comes from the connection, never from a body:
 * the peer uid on the unix socket QFARM_HOME/api.sock (no token), or over TCP
 * `Authorization: Bearer <token>` (the admin token is root, a per-user token that user).
 * Identity, token and manager routes: protocol/identity-api.ts.
 *
 *   POST /jobs                      JobSubmitRequest     → SubmitResponse
 *   GET  /jobs?user=&finished=1     —                    → QstatResponse
 *   GET  /jobs/:id                  —                    → JobDetail           (qstat -j)
 *   GET  /jobs/:id/wait             —                    → JobWaitResponse     (qsub -sync y; long poll)
 *   POST /jobs/delete               DeleteRequest        → ActionResponse
 *   POST /jobs/hold | /jobs/release HoldRequest          → ActionResponse
 *   POST /jobs/clear-error          HoldRequest          → ActionResponse      (qmod -cj)
 *   POST /jobs/alter                AlterRequest         → ActionResponse
 *   GET  /hosts                     —                    → HostsResponse       (qhost)
 *   GET  /accounting?job=&owner=    —                    → AccountingResponse  (qacct)
 *   GET  /logs/:job/:task?stream=stdout|stderr&follow=1  → text, streamed while the task runs
 *   GET  /health                    —                    → HealthResponse
 * Errors: HTTP 4xx/5xx with ApiError.
 */

export const ApiError = Type.Object({
  error: Type.String(),
  /** What the person can do about it. */
  hint: Type.Optional(Type.String()),
});
export type ApiError = Static<typeof ApiError>;

/** SGE job/task states as `qstat` prints them. */
export const QstatState = Type.Union([
  Type.Literal('qw'), // queued, waiting
  Type.Literal('hqw'), // held (user hold or unfinished -hold_jid dependency)
  Type.Literal('t'), // transferring: leased to an agent that has not started it yet
  Type.Literal('r'), // running
  Type.Literal('Rr'), // running again after a requeue (its first host was lost)
  Type.Literal('dr'), // running, deletion requested
  Type.Literal('dt'), // transferring, deletion requested
  Type.Literal('Eqw'), // error: could not be started; stays until qmod -cj or qdel
  Type.Literal('z'), // finished (qstat -s z)
]);
export type QstatState = Static<typeof QstatState>;

/** One line of `qstat`: a running task, or a group of pending tasks of one job. */
export const QstatRow = Type.Object({
  jobId: Type.Integer(),
  /** Normalised priority as SGE prints it (0.5 for the default -p 0). */
  prior: Type.Number(),
  name: Type.String(),
  owner: Type.String(),
  state: QstatState,
  /** Submit time for pending rows, start time for running rows (ms since epoch). */
  time: Type.Number(),
  /** `group@host` for running rows, '' for pending. */
  queue: Type.String(),
  slots: Type.Integer(),
  /** '' for a plain job, `7` for one task, `3-5:1` or `1,3,4` for pending tasks. */
  tasks: Type.String(),
});
export type QstatRow = Static<typeof QstatRow>;

export const QstatResponse = Type.Object({ rows: Type.Array(QstatRow) });
export type QstatResponse = Static<typeof QstatResponse>;

export const TaskDetail = Type.Object({
  taskId: Type.Union([Type.Integer(), Type.Null()]),
  state: QstatState,
  host: Type.Union([Type.String(), Type.Null()]),
  startTime: Type.Union([Type.Number(), Type.Null()]),
  usage: Type.Union([TaskUsage, Type.Null()]),
});
export type TaskDetail = Static<typeof TaskDetail>;

/** `qstat -j ID`: the job as submitted, plus per-task usage and why pending tasks wait. */
export const JobDetail = Type.Object({
  jobId: Type.Integer(),
  name: Type.String(),
  submitter: Submitter,
  submitHost: Type.String(),
  submitTime: Type.Number(),
  command: JobCommand,
  shell: Type.String(),
  cwd: Type.String(),
  submitCwd: Type.String(),
  stdoutPath: Type.Union([Type.String(), Type.Null()]),
  stderrPath: Type.Union([Type.String(), Type.Null()]),
  joinOutput: Type.Boolean(),
  env: Type.Record(Type.String(), Type.String()),
  array: Type.Union([TaskRange, Type.Null()]),
  hold: Type.Boolean(),
  /** Resolved -hold_jid job ids that have not finished yet. */
  waitingFor: Type.Array(Type.Integer()),
  holdJobs: Type.Array(Type.Integer()),
  priority: Type.Integer(),
  queue: Type.Union([Type.String(), Type.Null()]),
  slots: Type.Integer(),
  resources: ResourceRequest,
  pty: Type.Boolean(),
  /** qfarm's data options (`-data`, `-outdir`), when the job has any. */
  data: Type.Optional(JobData),
  deleted: Type.Boolean(),
  /**
   * Plain `qstat` shows the job (not finished, or a task still on a host): `qstat -j` reports
   * the others as missing, as SGE does. Absent from masters before 2026-11-30.
   */
  listed: Type.Optional(Type.Boolean()),
  /** Running tasks (with usage) and pending groups. */
  tasks: Type.Array(TaskDetail),
  /** Why pending tasks are not running, one line each. */
  schedulingInfo: Type.Array(Type.String()),
  /** `-hold_jid` as requested (ids and names), SGE's `jid_predecessor_list (req)`. */
  holdJobsRequested: Type.Optional(Type.Array(Type.String())),
  /** `-hold_jid_ad` predecessors (resolved ids), SGE's `ja_ad_predecessor_list`. */
  holdJobsArray: Type.Optional(Type.Array(Type.Integer())),
  /** Unfinished jobs that wait for this one (`jid_successor_list`, `ja_ad_successor_list`). */
  successors: Type.Optional(Type.Array(Type.Integer())),
  arraySuccessors: Type.Optional(Type.Array(Type.Integer())),
  /** `-notify`, `-a` (ms since the epoch), `-r` when given. */
  notify: Type.Optional(Type.Boolean()),
  startAfter: Type.Optional(Type.Number()),
  rerun: Type.Optional(Type.Boolean()),
  /** Why finished tasks failed (SGE's `error reason` lines), the most recent first, bounded. */
  errors: Type.Optional(
    Type.Array(Type.Object({ taskId: Type.Union([Type.Integer(), Type.Null()]), time: Type.Number(), reason: Type.String() }), { maxItems: 100 }),
  ),
});
export type JobDetail = Static<typeof JobDetail>;

export const JobDetailResponse = Type.Object({ jobs: Type.Array(JobDetail), missing: Type.Array(Type.String()) });
export type JobDetailResponse = Static<typeof JobDetailResponse>;

/** Returned when every task of the job has finished (or the job was deleted). */
export const JobWaitResponse = Type.Object({
  jobId: Type.Integer(),
  finished: Type.Boolean(),
  /** Per task: exit status and failed code, in task order. */
  tasks: Type.Array(
    Type.Object({
      taskId: Type.Union([Type.Integer(), Type.Null()]),
      exitStatus: Type.Integer(),
      failedCode: Type.Integer(),
      /** Why, when failedCode is not 0 (the agent's words: what failed, for which user). */
      failedReason: Type.Optional(Type.String()),
      deleted: Type.Boolean(),
    }),
  ),
});
export type JobWaitResponse = Static<typeof JobWaitResponse>;

/** `job` or `job.task` or `job.first-last:step`, or a job name. */
export const JobTarget = Type.Object({
  job: Type.String({ minLength: 1 }),
  tasks: Type.Optional(TaskRange),
});
export type JobTarget = Static<typeof JobTarget>;

export const DeleteRequest = Type.Object({
  targets: Type.Array(JobTarget),
  /** `qdel -u user`: every job of these users. */
  users: Type.Array(Type.String()),
  force: Type.Boolean(),
});
export type DeleteRequest = Static<typeof DeleteRequest>;

export const HoldRequest = Type.Object({
  targets: Type.Array(JobTarget),
});
export type HoldRequest = Static<typeof HoldRequest>;

/** `qalter`: the fields to change; absent fields stay as they are. */
export const AlterRequest = Type.Object({
  targets: Type.Array(JobTarget),
  changes: Type.Object({
    name: Type.Optional(Type.String({ minLength: 1 })),
    priority: Type.Optional(Type.Integer({ minimum: -1023, maximum: 1024 })),
    queue: Type.Optional(Type.String()),
    holdJobs: Type.Optional(Type.Array(Type.String())),
    resources: Type.Optional(ResourceRequest),
    slots: Type.Optional(Type.Integer({ minimum: 1 })),
  }),
});
export type AlterRequest = Static<typeof AlterRequest>;

/** One line per target, as SGE prints them (`root has deleted job 8`); failed ones are errors. */
export const ActionResponse = Type.Object({
  messages: Type.Array(
    Type.Object({
      ok: Type.Boolean(),
      text: Type.String(),
      /** Set when the target belongs to another user (SGE's qhold/qrls exit 18 then, not 3). */
      denied: Type.Optional(Type.Literal('permission')),
    }),
  ),
});
export type ActionResponse = Static<typeof ActionResponse>;

export const HostView = Type.Object({
  hostname: Type.String(),
  group: Type.String(),
  arch: Type.String(),
  ncpu: Type.Integer(),
  nsoc: Type.Integer(),
  ncor: Type.Integer(),
  nthr: Type.Integer(),
  /** null when the host is not connected (qhost prints `-`). */
  load: Type.Union([Type.Number(), Type.Null()]),
  memTotalBytes: Type.Number(),
  memUsedBytes: Type.Union([Type.Number(), Type.Null()]),
  swapTotalBytes: Type.Number(),
  swapUsedBytes: Type.Union([Type.Number(), Type.Null()]),
  slots: Type.Integer(),
  slotsUsed: Type.Integer(),
  state: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('disabled')]),
  lastSeen: Type.Number(),
  /** The host's machine is gone (released, or no longer listed by its provider): only in `?all=1` answers. */
  gone: Type.Optional(Type.Boolean()),
  labels: Type.Record(Type.String(), Type.String()),
  /** Why the host is in SGE's error state `E` (it takes no new tasks until `qmod -c`); absent when it is not. */
  error: Type.Optional(Type.String({ maxLength: 4096 })),
});
export type HostView = Static<typeof HostView>;

export const HostsResponse = Type.Object({ hosts: Type.Array(HostView) });
export type HostsResponse = Static<typeof HostsResponse>;

/** One finished attempt that counts (the committed one of each task), as `qacct -j` prints it. */
export const AccountingRecord = Type.Object({
  qname: Type.String(),
  hostname: Type.String(),
  group: Type.String(),
  owner: Type.String(),
  jobname: Type.String(),
  jobnumber: Type.Integer(),
  taskid: Type.Union([Type.Integer(), Type.Null()]),
  priority: Type.Integer(),
  qsubTime: Type.Number(),
  startTime: Type.Number(),
  endTime: Type.Number(),
  slots: Type.Integer(),
  failedCode: Type.Integer(),
  failedReason: Type.String(),
  exitStatus: Type.Integer(),
  signal: Type.Union([Type.String(), Type.Null()]),
  usage: TaskUsage,
  attempts: Type.Integer(),
});
export type AccountingRecord = Static<typeof AccountingRecord>;

export const AccountingResponse = Type.Object({ records: Type.Array(AccountingRecord) });
export type AccountingResponse = Static<typeof AccountingResponse>;

export const HealthResponse = Type.Object({
  ok: Type.Boolean(),
  version: Type.String(),
  protocolVersion: Type.Integer(),
  hosts: Type.Integer(),
  pendingTasks: Type.Integer(),
  runningTasks: Type.Integer(),
});
export type HealthResponse = Static<typeof HealthResponse>;

/**
 * What the CLI sends to submit: the job without `submitter`, which the master fills from the
 * connection's identity (the stored JobSubmission keeps it).
 */
export const JobSubmitRequest = Type.Omit(JobSubmission, ['submitter', 'interactive']);
export type JobSubmitRequest = Static<typeof JobSubmitRequest>;

export const validators = {
  jobSubmission: compile('job submission', JobSubmission),
  jobSubmitRequest: compile('job submission', JobSubmitRequest),
  submitResponse: compile('submit response', SubmitResponse),
  qstatResponse: compile('qstat response', QstatResponse),
  jobDetailResponse: compile('job detail response', JobDetailResponse),
  jobWaitResponse: compile('job wait response', JobWaitResponse),
  deleteRequest: compile('delete request', DeleteRequest),
  holdRequest: compile('hold request', HoldRequest),
  alterRequest: compile('alter request', AlterRequest),
  actionResponse: compile('action response', ActionResponse),
  hostsResponse: compile('hosts response', HostsResponse),
  accountingResponse: compile('accounting response', AccountingResponse),
  healthResponse: compile('health response', HealthResponse),
  apiError: compile('API error', ApiError),
  identityResponse: compile('identity response', IdentityResponse),
  tokenCreateRequest: compile('token create request', TokenCreateRequest),
  tokenCreateResponse: compile('token create response', TokenCreateResponse),
  tokenListResponse: compile('token list response', TokenListResponse),
  tokenRevokeRequest: compile('token revoke request', TokenRevokeRequest),
  managerRequest: compile('manager request', ManagerRequest),
  managerListResponse: compile('manager list response', ManagerListResponse),
};
