import { Type, type Static } from '@sinclair/typebox';
import { JobData } from './job-data.js';

/**
 * What a job is, as submitted: the one description that the CLI builds from SGE options, the
 * API validates, the master stores, and (per task) the agent executes.
 */

/**
 * Who submitted the job; tasks run as this user (the agent drops privileges to uid/gid). Filled
 * by the master from the connection's identity, never sent by a client (protocol/api.ts JobSubmitRequest).
 */
export const Submitter = Type.Object({
  user: Type.String({ minLength: 1, maxLength: 64 }),
  uid: Type.Integer({ minimum: 0 }),
  gid: Type.Integer({ minimum: 0 }),
  group: Type.String({ maxLength: 64 }),
  home: Type.String(),
});
export type Submitter = Static<typeof Submitter>;

/** `qsub -b y cmd args`: run the command directly with its arguments (no shell parsing). */
export const BinaryCommand = Type.Object({
  kind: Type.Literal('binary'),
  argv: Type.Array(Type.String(), { minItems: 1 }),
});
/**
 * The documented limit of a job script: 8 Mi characters (qsub refuses a longer one). The
 * master's submission route accepts a body large enough for the longest valid script fully
 * JSON-escaped (see master/api/request-bounds.ts); every other route is far smaller.
 */
export const MAX_SCRIPT_CHARS = 8 * 1024 * 1024;

/** `qsub script.sh args` or stdin: the script's text is stored at submission, as SGE does. */
export const ScriptCommand = Type.Object({
  kind: Type.Literal('script'),
  script: Type.String({ maxLength: MAX_SCRIPT_CHARS }),
  /** File name the script came from, or `STDIN`. */
  scriptName: Type.String(),
  args: Type.Array(Type.String()),
});
export const JobCommand = Type.Union([BinaryCommand, ScriptCommand]);
export type JobCommand = Static<typeof JobCommand>;

/** An array job's task range, `-t first-last:step`. A plain job is `1-1:1` with isArray false. */
export const TaskRange = Type.Object({
  first: Type.Integer({ minimum: 1 }),
  last: Type.Integer({ minimum: 1 }),
  step: Type.Integer({ minimum: 1 }),
});
export type TaskRange = Static<typeof TaskRange>;

/** Resource requests (`-l`); limits the agent enforces and the scheduler matches. */
export const ResourceRequest = Type.Object({
  /** `h_rt`: hard wall-clock limit in seconds; the task is killed (SIGKILL) when it passes. */
  wallclockSeconds: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  /** `h_vmem`: per-slot virtual memory limit in bytes. */
  vmemBytes: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  /** `mem_free`: the host must have this much free memory (bytes) to start the task. */
  memFreeBytes: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  /** Any other `-l name=value` kept verbatim (shown by `qstat -j`, matched against host labels). */
  other: Type.Record(Type.String(), Type.String()),
});
export type ResourceRequest = Static<typeof ResourceRequest>;

export const JobSubmission = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256 }),
  submitter: Submitter,
  submitHost: Type.String(),
  command: JobCommand,
  /** `-S`: interpreter for script jobs. Default `/bin/sh`. */
  shell: Type.Optional(Type.String({ minLength: 1 })),
  /** Working directory of each task: `-cwd`, `-wd`, else the submitter's home (SGE's default). */
  cwd: Type.String({ minLength: 1 }),
  /** Directory qsub ran in (`SGE_O_WORKDIR`). */
  submitCwd: Type.String({ minLength: 1 }),
  /** `-o` / `-e` paths, may contain `$JOB_ID $TASK_ID $JOB_NAME $USER $HOME $HOSTNAME`. */
  stdoutPath: Type.Optional(Type.String({ minLength: 1 })),
  stderrPath: Type.Optional(Type.String({ minLength: 1 })),
  /** `-j y`: stderr goes to the stdout file. */
  joinOutput: Type.Boolean(),
  /** `-v` and `-V` variables, exported into every task. */
  env: Type.Record(Type.String(), Type.String()),
  /** `-t`; absent for a plain job. */
  array: Type.Optional(TaskRange),
  /** `-h`: submitted in user hold. */
  hold: Type.Boolean(),
  /** `-hold_jid`: ids or names of jobs that must finish first. */
  holdJobs: Type.Array(Type.String({ minLength: 1 })),
  /**
   * `-hold_jid_ad`: array jobs (ids or names) whose task N must finish before this job's task N
   * starts. Absent means none.
   */
  holdJobsArray: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  /** `-p`: -1023..1024, higher runs first. */
  priority: Type.Integer({ minimum: -1023, maximum: 1024 }),
  /** `-q`: the group (queue) to run in; absent means any group. */
  queue: Type.Optional(Type.String({ minLength: 1 })),
  /** `-pe smp N`: slots each task occupies on one host. */
  slots: Type.Integer({ minimum: 1, maximum: 4096 }),
  resources: ResourceRequest,
  /** `-pty y`: run in a pseudo-terminal (stdout and stderr merged, as a terminal shows them). */
  pty: Type.Boolean(),
  /** qfarm's data options (`-data`, `-outdir`): inputs mounted or staged on the node, outputs uploaded. */
  data: Type.Optional(JobData),
  /**
   * `-notify`: qdel first sends SIGUSR2 (SGE's notify signal for a kill) and SIGKILL only after
   * the agent's notify period. Absent means false.
   */
  notify: Type.Optional(Type.Boolean()),
  /** `-a`: earliest start, ms since the epoch; the job waits in `qw` until then. */
  startAfter: Type.Optional(Type.Number({ minimum: 0 })),
  /**
   * `-r n` is false: a task whose host is lost is not run again but ends as failed (as SGE
   * does for a job that is not rerunnable). Absent means true (`-r y`, qfarm's default).
   */
  rerun: Type.Optional(Type.Boolean()),
  /**
   * The submitter's umask at qsub time (0..0o777): tasks run with it and their output files
   * follow it, as under SGE. Absent (older clients) means 022.
   */
  umask: Type.Optional(Type.Integer({ minimum: 0, maximum: 0o777 })),
  /**
   * `qrsh`/`qlogin`: set by the master for jobs submitted on the interactive WebSocket (never
   * by a client: JobSubmitRequest leaves it out). Its tasks take input from the CLI.
   */
  interactive: Type.Optional(Type.Boolean()),
});
export type JobSubmission = Static<typeof JobSubmission>;

export const SubmitResponse = Type.Object({
  jobId: Type.Integer(),
  name: Type.String(),
  array: Type.Optional(TaskRange),
});
export type SubmitResponse = Static<typeof SubmitResponse>;
