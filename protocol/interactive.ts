import { Type, type Static } from '@sinclair/typebox';
import { JobSubmitRequest } from './api.js';
import { compile } from './validate.js';
import { InteractiveLimits, WindowSize } from './interactive-limits.js';

export { InteractiveLimits, WindowSize };

/**
 * Interactive jobs (`qrsh`, `qlogin`): the frames between the CLI and the master on the
 * WebSocket `API_PREFIX + INTERACTIVE_PATH`, and their bounds. Who is asking comes from the
 * connection (API socket peer or token), as for every API request; no frame names a user.
 * The terminal's bytes to the agent and back travel as `session-*` frames of the agent
 * protocol (protocol/agent-messages.ts), keyed by the attempt.
 */

export const INTERACTIVE_PATH = '/interactive';

const Chunk = Type.String({ maxLength: InteractiveLimits.chunkChars });

// ---------------------------------------------------------------- CLI → master

/** The first frame: the job as qsub would submit it, and whether the CLI has a terminal. */
export const InteractiveSubmit = Type.Object({
  type: Type.Literal('submit'),
  verb: Type.Union([Type.Literal('qrsh'), Type.Literal('qlogin')]),
  job: JobSubmitRequest,
  /** The CLI's terminal size; null: no terminal, stdin/stdout are streamed as plain bytes. */
  tty: Type.Union([WindowSize, Type.Null()]),
  /** `-now y` (SGE's default for qrsh/qlogin): start at once or not at all. */
  now: Type.Boolean(),
});
export type InteractiveSubmit = Static<typeof InteractiveSubmit>;

export const ClientInput = Type.Object({ type: Type.Literal('input'), data: Chunk });
export const ClientResize = Type.Object({ type: Type.Literal('resize'), size: WindowSize });
/** stdin reached its end (pipes mode): the job's stdin is closed. */
export const ClientEof = Type.Object({ type: Type.Literal('eof') });

export const InteractiveClientFrame = Type.Union([InteractiveSubmit, ClientInput, ClientResize, ClientEof]);
export type InteractiveClientFrame = Static<typeof InteractiveClientFrame>;

// ---------------------------------------------------------------- master → CLI

export const ServerSubmitted = Type.Object({ type: Type.Literal('submitted'), jobId: Type.Integer(), name: Type.String() });
/** `-now y` and nothing free: the job was deleted; SGE's message follows in `message`. */
export const ServerNotScheduled = Type.Object({ type: Type.Literal('not-scheduled'), message: Type.String() });
export const ServerScheduled = Type.Object({ type: Type.Literal('scheduled'), host: Type.String() });
export const ServerOutput = Type.Object({
  type: Type.Literal('output'),
  stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]),
  data: Type.String(),
});
/** `bytes` more of input were written to the job: the CLI may send that many more. */
export const ServerCredit = Type.Object({ type: Type.Literal('credit'), bytes: Type.Integer({ minimum: 0 }) });
export const ServerExit = Type.Object({
  type: Type.Literal('exit'),
  exitStatus: Type.Integer({ minimum: 0, maximum: 255 }),
  failedCode: Type.Integer({ minimum: 0 }),
  reason: Type.String(),
});
export const ServerError = Type.Object({ type: Type.Literal('error'), message: Type.String() });

export const InteractiveServerFrame = Type.Union([ServerSubmitted, ServerNotScheduled, ServerScheduled, ServerOutput, ServerCredit, ServerExit, ServerError]);
export type InteractiveServerFrame = Static<typeof InteractiveServerFrame>;

export const interactiveClientFrame = compile('interactive frame', InteractiveClientFrame);
export const interactiveServerFrame = compile('interactive frame from the master', InteractiveServerFrame);
