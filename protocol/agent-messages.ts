import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { JobCommand } from './job-spec.js';
import { JobData, OutputManifest } from './job-data.js';
import { compile, type Validator } from './validate.js';
import { InteractiveLimits, WindowSize } from './interactive-limits.js';

/**
 * Every frame on the agent WebSocket, one discriminated union per direction. Frames are JSON
 * text; both sides validate every frame before acting on it (see `protocol/AGENT-PROTOCOL.md`).
 */

/** Resource usage of a task's whole process tree, as sampled from /proc. */
export const TaskUsage = Type.Object({
  cpuSeconds: Type.Number({ minimum: 0 }),
  utimeSeconds: Type.Number({ minimum: 0 }),
  stimeSeconds: Type.Number({ minimum: 0 }),
  rssBytes: Type.Number({ minimum: 0 }),
  maxRssBytes: Type.Number({ minimum: 0 }),
  vmemBytes: Type.Number({ minimum: 0 }),
  maxVmemBytes: Type.Number({ minimum: 0 }),
  /** Bytes read plus written (from /proc/PID/io when readable). */
  ioBytes: Type.Number({ minimum: 0 }),
});
export type TaskUsage = Static<typeof TaskUsage>;

/** The usage of a task before its first sample, or whose usage was never reported. A fresh object: samplers mutate it. */
export const zeroUsage = (): TaskUsage => ({ cpuSeconds: 0, utimeSeconds: 0, stimeSeconds: 0, rssBytes: 0, maxRssBytes: 0, vmemBytes: 0, maxVmemBytes: 0, ioBytes: 0 });

/**
 * Maximums of what an agent may send. Any agent holding the agent token can send anything, so
 * every list and string the master keeps or loops over is bounded here, in the schema.
 */
export const AgentLimits = {
  /** Attempt ids are UUIDs made by the master (36 characters). */
  attemptIdChars: 64,
  slots: 4096,
  /** CPUs, sockets, cores, threads of one machine. */
  cpus: 65_536,
  /** Attempts one hello or heartbeat may list (running plus unacknowledged results). */
  attempts: 10_000,
  labels: 64,
  labelKeyChars: 64,
  labelValueChars: 256,
  /** agentVersion, arch, signal names. */
  shortStringChars: 64,
  /** base64 of one output chunk (the agent sends at most 64 KiB of raw bytes per chunk). */
  outputChunkChars: 1024 * 1024,
  /** failedReason of a result (error messages of the node). */
  reasonChars: 64 * 1024,
  /**
   * How far ahead of the next expected `output.seq` a chunk may be. The agent drops its oldest
   * chunks beyond 8 MiB of buffered output (at least 128 chunks of 64 KiB, usually far more
   * small ones), so a legitimate gap is bounded by what it can hold; 1,000,000 leaves ample room
   * while a forged `seq` near 2^53 can no longer make the master drop every later chunk.
   */
  outputSeqJump: 1_000_000,
  /** Nesting of arrays/objects in a frame (the deepest real frame, `finished` with outputs, has 4). */
  jsonDepth: 16,
} as const;

const AttemptId = Type.String({ minLength: 1, maxLength: AgentLimits.attemptIdChars });
const ShortString = Type.String({ maxLength: AgentLimits.shortStringChars });

// ---------------------------------------------------------------- agent → master

export const AgentHello = Type.Object({
  type: Type.Literal('hello'),
  protocolVersion: Type.Integer(),
  agentVersion: ShortString,
  /** Stable across restarts of the agent on one machine: identifies the host. */
  agentId: Type.String({ minLength: 1, maxLength: 128 }),
  hostname: Type.String({ minLength: 1, maxLength: 255 }),
  group: Type.String({ minLength: 1, maxLength: 64 }),
  arch: ShortString,
  cpus: Type.Integer({ minimum: 1, maximum: AgentLimits.cpus }),
  sockets: Type.Integer({ minimum: 1, maximum: AgentLimits.cpus }),
  cores: Type.Integer({ minimum: 1, maximum: AgentLimits.cpus }),
  threads: Type.Integer({ minimum: 1, maximum: AgentLimits.cpus }),
  slots: Type.Integer({ minimum: 1, maximum: AgentLimits.slots }),
  memTotalBytes: Type.Number({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  swapTotalBytes: Type.Number({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  labels: Type.Record(
    Type.String({ pattern: `^[\\s\\S]{1,${AgentLimits.labelKeyChars}}$` }),
    Type.String({ maxLength: AgentLimits.labelValueChars }),
    { maxProperties: AgentLimits.labels, additionalProperties: false },
  ),
  /** Attempts this agent is still running or holds unacknowledged results for (reattach). */
  attempts: Type.Array(AttemptId, { maxItems: AgentLimits.attempts }),
  /** The agent takes no new work (SIGTERM, spot reclaim, master drain): assign it nothing. */
  draining: Type.Optional(Type.Boolean()),
});
export type AgentHello = Static<typeof AgentHello>;

/**
 * What the master keeps of a hello: the host's inventory. The attempts list is acted on once
 * and dropped; nothing else an agent might add is stored.
 */
export type HostInventory = Pick<
  AgentHello,
  | 'agentVersion' | 'agentId' | 'hostname' | 'group' | 'arch' | 'cpus' | 'sockets' | 'cores' | 'threads'
  | 'slots' | 'memTotalBytes' | 'swapTotalBytes' | 'labels'
>;

export function hostInventory(hello: AgentHello): HostInventory {
  const { agentVersion, agentId, hostname, group, arch, cpus, sockets, cores, threads, slots, memTotalBytes, swapTotalBytes, labels } = hello;
  return { agentVersion, agentId, hostname, group, arch, cpus, sockets, cores, threads, slots, memTotalBytes, swapTotalBytes, labels: { ...labels } };
}

export const AgentHeartbeat = Type.Object({
  type: Type.Literal('heartbeat'),
  load1: Type.Number({ minimum: 0 }),
  memUsedBytes: Type.Number({ minimum: 0 }),
  swapUsedBytes: Type.Number({ minimum: 0 }),
  running: Type.Array(AttemptId, { maxItems: AgentLimits.attempts }),
});
export type AgentHeartbeat = Static<typeof AgentHeartbeat>;

export const TaskStarted = Type.Object({
  type: Type.Literal('started'),
  attemptId: AttemptId,
  pid: Type.Integer(),
  startedAt: Type.Number(),
});
export type TaskStarted = Static<typeof TaskStarted>;

export const OutputStream = Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]);
export type OutputStream = Static<typeof OutputStream>;

/** A chunk of a task's output; `seq` counts chunks per attempt from 0, so replays are deduplicated. */
export const TaskOutput = Type.Object({
  type: Type.Literal('output'),
  attemptId: AttemptId,
  stream: OutputStream,
  seq: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  /** base64 of the raw bytes. */
  data: Type.String({ maxLength: AgentLimits.outputChunkChars }),
});
export type TaskOutput = Static<typeof TaskOutput>;

export const TaskUsageReport = Type.Object({
  type: Type.Literal('usage'),
  attemptId: AttemptId,
  usage: TaskUsage,
});
export type TaskUsageReport = Static<typeof TaskUsageReport>;

/** SGE's `failed` codes that qfarm produces (see qacct(5)). */
export const FailedCode = {
  None: 0,
  /** The task could not be set up (bad cwd, unknown user, unwritable output file...). */
  BeforeJob: 1,
  /** Could not open the output file. */
  OpenOutput: 26,
  /**
   * Killed for exceeding `h_rt` or `h_vmem`: real SGE 8.1.9 accounts an h_rt kill as
   * `failed 37 : qmaster enforced h_rt, h_cpu, or h_vmem limit`, exit_status 137.
   */
  LimitExceeded: 37,
  /** Killed by qdel: SGE prints `100 : assumedly after job`. */
  AfterJob: 100,
} as const;
export type FailedCode = (typeof FailedCode)[keyof typeof FailedCode];

export const TaskFinished = Type.Object({
  type: Type.Literal('finished'),
  attemptId: AttemptId,
  /** 0..255, 128+N when killed by signal N (as SGE's exit_status shows 137 for SIGKILL). */
  exitStatus: Type.Integer({ minimum: 0, maximum: 255 }),
  /** Signal name when the process was killed by one (`SIGKILL`), else null. */
  signal: Type.Union([ShortString, Type.Null()]),
  failedCode: Type.Integer({ minimum: 0 }),
  /** Why, in words, when failedCode is not 0 or the task was killed. */
  failedReason: Type.String({ maxLength: AgentLimits.reasonChars }),
  startedAt: Type.Number(),
  endedAt: Type.Number(),
  usage: TaskUsage,
  /** Outputs uploaded and verified (CRC-64) before this result was sent; absent when the job has no output location. */
  outputs: Type.Optional(OutputManifest),
  /**
   * The attempt failed for a reason of the node, not the job (an input could not be staged, an
   * upload failed): the master runs the task again elsewhere instead of committing the failure.
   */
  retryable: Type.Optional(Type.Boolean()),
});
export type TaskFinished = Static<typeof TaskFinished>;

/**
 * The task's process has ended and its `$OUTDIR` is being uploaded: its slots are free for the
 * next task (uploads overlap with work), but the attempt is committed only with `finished`.
 */
export const TaskUploading = Type.Object({
  type: Type.Literal('uploading'),
  attemptId: AttemptId,
});
export type TaskUploading = Static<typeof TaskUploading>;

/**
 * The agent's spot watch saw a reclaim notice: sent once per notice (again after a reconnect),
 * after which the agent takes no more work. The master requeues what the machine runs as
 * interrupted, not failed.
 */
export const AgentSpotNotice = Type.Object({
  type: Type.Literal('spot-notice'),
  /** ISO time at which the provider releases the machine, as the metadata service gave it. */
  terminationTime: Type.String({ minLength: 1, maxLength: 64 }),
});
export type AgentSpotNotice = Static<typeof AgentSpotNotice>;

/**
 * Interactive sessions on a node: a qrsh/qlogin task (sessionId = its attempt id) or a node
 * session of `qfarm exec/shell/push` (sessionId made by the master, see `session-open`).
 */
const SessionId = Type.String({ minLength: 1, maxLength: AgentLimits.attemptIdChars });

/** Input (session-input) was written to the session's stdin or pty: credit for the CLI. */
export const SessionAck = Type.Object({
  type: Type.Literal('session-ack'),
  sessionId: SessionId,
  bytes: Type.Integer({ minimum: 1, maximum: InteractiveLimits.inputWindowBytes }),
});
export type SessionAck = Static<typeof SessionAck>;

/** Output of a node session (a task's output travels as `output`). */
export const SessionOutput = Type.Object({
  type: Type.Literal('session-output'),
  sessionId: SessionId,
  stream: OutputStream,
  /** base64 of at most InteractiveLimits.chunkBytes raw bytes. */
  data: Type.String({ maxLength: InteractiveLimits.chunkChars }),
});
export type SessionOutput = Static<typeof SessionOutput>;

/** A node session ended (or could not start: `reason`). */
export const SessionExit = Type.Object({
  type: Type.Literal('session-exit'),
  sessionId: SessionId,
  exitStatus: Type.Integer({ minimum: 0, maximum: 255 }),
  signal: Type.Union([ShortString, Type.Null()]),
  reason: Type.String({ maxLength: AgentLimits.reasonChars }),
});
export type SessionExit = Static<typeof SessionExit>;

export const AgentMessage = Type.Union([AgentHello, AgentHeartbeat, TaskStarted, TaskOutput, TaskUsageReport, TaskFinished, AgentSpotNotice, TaskUploading, SessionAck, SessionOutput, SessionExit]);
export type AgentMessage = Static<typeof AgentMessage>;

// ---------------------------------------------------------------- master → agent

/** The longest heartbeat interval a master asks for: 3 of them is how long a vanished host goes unnoticed. */
export const HEARTBEAT_MS_MAX = 600_000;

export const Welcome = Type.Object({
  type: Type.Literal('welcome'),
  protocolVersion: Type.Integer(),
  hostname: Type.String(),
  heartbeatMs: Type.Integer({ minimum: 100, maximum: HEARTBEAT_MS_MAX }),
  /** Attempts named in hello that the master no longer wants: kill them and drop their results. */
  cancel: Type.Array(Type.String()),
});
export type Welcome = Static<typeof Welcome>;

/**
 * From now on, a heartbeat every `heartbeatMs`: the master slows heartbeats as its farm grows
 * (master/heartbeat-pace.ts) and speeds them up as it shrinks. An agent that does not know this
 * frame ignores it and keeps the welcome's interval.
 */
export const HeartbeatPace = Type.Object({
  type: Type.Literal('pace'),
  heartbeatMs: Type.Integer({ minimum: 100, maximum: HEARTBEAT_MS_MAX }),
});
export type HeartbeatPace = Static<typeof HeartbeatPace>;

export const Refused = Type.Object({
  type: Type.Literal('refused'),
  reason: Type.String(),
});
export type Refused = Static<typeof Refused>;

/** A task leased to this agent. Everything needed to run it is here: the agent keeps no job state. */
export const TaskAssignment = Type.Object({
  type: Type.Literal('assign'),
  attemptId: Type.String(),
  jobId: Type.Integer(),
  /** Array task id, or null for a plain job (SGE_TASK_ID=undefined). */
  taskId: Type.Union([Type.Integer(), Type.Null()]),
  jobName: Type.String(),
  user: Type.Object({ name: Type.String(), uid: Type.Integer(), gid: Type.Integer(), home: Type.String() }),
  command: JobCommand,
  shell: Type.String(),
  cwd: Type.String(),
  /** Complete task environment from the master (job env + SGE variables); the agent adds TMPDIR, HOSTNAME. */
  env: Type.Record(Type.String(), Type.String()),
  /** Output paths with master-side variables expanded; `$HOSTNAME` is expanded by the agent. */
  stdoutPath: Type.String(),
  stderrPath: Type.String(),
  joinOutput: Type.Boolean(),
  pty: Type.Boolean(),
  slots: Type.Integer({ minimum: 1 }),
  wallclockSeconds: Type.Union([Type.Number(), Type.Null()]),
  vmemBytes: Type.Union([Type.Number(), Type.Null()]),
  /** Inputs to mount or stage before the task runs, and where `$OUTDIR` goes after it succeeds. */
  data: Type.Optional(JobData),
  /** The submitter's umask (0..0o777), applied to the task and its output files; absent: 022. */
  umask: Type.Optional(Type.Integer({ minimum: 0, maximum: 0o777 })),
  /** `qsub -notify`: a kill sends SIGUSR2 first and SIGKILL after the agent's notify period. */
  notify: Type.Optional(Type.Boolean()),
  /**
   * `qrsh`/`qlogin`: the task takes input (session-* frames). With `pty` it runs in a pty;
   * without, its stdin is a pipe that stays open until `session-eof`.
   */
  interactive: Type.Optional(Type.Boolean()),
});
export type TaskAssignment = Static<typeof TaskAssignment>;

export const KillTask = Type.Object({
  type: Type.Literal('kill'),
  attemptId: Type.String(),
  /** Shown in the task's failed reason and logs, e.g. `deleted by alice`. */
  reason: Type.String(),
});
export type KillTask = Static<typeof KillTask>;

/** The master committed the attempt's result: the agent may forget it. */
export const ResultAck = Type.Object({
  type: Type.Literal('ack'),
  attemptId: Type.String(),
});
export type ResultAck = Static<typeof ResultAck>;

/** Ask the agent to stop taking work (drain), e.g. before a scale-in. */
export const Drain = Type.Object({
  type: Type.Literal('drain'),
  reason: Type.String(),
});
export type Drain = Static<typeof Drain>;

// Interactive sessions (protocol/interactive.ts): a node session is opened, then both kinds
// take the terminal's input, size, end of input and hang-up.
/** `qfarm exec/shell/push`: run `argv` as `user` on this node, outside any job and slot. */
export const SessionOpen = Type.Object({
  type: Type.Literal('session-open'),
  sessionId: Type.String({ minLength: 1, maxLength: AgentLimits.attemptIdChars }),
  user: Type.Object({ name: Type.String(), uid: Type.Integer({ minimum: 0 }), gid: Type.Integer({ minimum: 0 }), home: Type.String() }),
  argv: Type.Array(Type.String(), { minItems: 1 }),
  /** A pty of this size; null: pipes. */
  tty: Type.Union([WindowSize, Type.Null()]),
});
export type SessionOpen = Static<typeof SessionOpen>;
export const SessionInput = Type.Object({
  type: Type.Literal('session-input'),
  sessionId: Type.String(),
  /** base64 of at most InteractiveLimits.chunkBytes raw bytes. */
  data: Type.String({ maxLength: InteractiveLimits.chunkChars }),
});
export type SessionInput = Static<typeof SessionInput>;
export const SessionResize = Type.Object({ type: Type.Literal('session-resize'), sessionId: Type.String(), size: WindowSize });
export type SessionResize = Static<typeof SessionResize>;
/** The CLI's stdin ended: close the session's stdin (pipes) or send ^D (pty). */
export const SessionEof = Type.Object({ type: Type.Literal('session-eof'), sessionId: Type.String() });
export type SessionEof = Static<typeof SessionEof>;
/** The CLI went away: SIGHUP to the session's process group, then the normal kill path. */
export const SessionHangup = Type.Object({ type: Type.Literal('session-hangup'), sessionId: Type.String(), reason: Type.String() });
export type SessionHangup = Static<typeof SessionHangup>;

export const MasterMessage = Type.Union([Welcome, HeartbeatPace, Refused, TaskAssignment, KillTask, ResultAck, Drain, SessionOpen, SessionInput, SessionResize, SessionEof, SessionHangup]);
export type MasterMessage = Static<typeof MasterMessage>;

export const agentMessage = compile('agent message', AgentMessage);

const agentMessageOfType: Record<string, Validator<TSchema>> = {
  hello: compile('hello', AgentHello),
  heartbeat: compile('heartbeat', AgentHeartbeat),
  started: compile('started', TaskStarted),
  output: compile('output', TaskOutput),
  usage: compile('usage', TaskUsageReport),
  finished: compile('finished', TaskFinished),
  'spot-notice': compile('spot-notice', AgentSpotNotice),
  uploading: compile('uploading', TaskUploading),
  'session-ack': compile('session-ack', SessionAck),
  'session-output': compile('session-output', SessionOutput),
  'session-exit': compile('session-exit', SessionExit),
};

/**
 * Validates an agent frame; on failure the error names the field of the frame's own type
 * (`invalid hello: /slots Expected integer to be less or equal to 4096`), not just "union".
 */
export function parseAgentMessage(value: unknown): AgentMessage {
  if (agentMessage.check(value)) return value;
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  const own = typeof type === 'string' && Object.hasOwn(agentMessageOfType, type) ? agentMessageOfType[type] : undefined;
  if (own) own.parse(value);
  return agentMessage.parse(value);
}
export const masterMessage = compile('master message', MasterMessage);
