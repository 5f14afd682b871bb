import { Type, type Static } from '@sinclair/typebox';
import { compile } from './validate.js';
import { InteractiveLimits, WindowSize } from './interactive-limits.js';

/**
 * `qfarm exec`, `qfarm shell`, `qfarm push`: sessions on nodes outside any job, on the
 * WebSocket `API_PREFIX + NODE_SESSIONS_PATH`. The caller is the connection's identity; each
 * node runs the command as that user (root only for root), `shell` is root's and for admins.
 */

export const NODE_SESSIONS_PATH = '/nodes/sessions';

export const NodeSessionLimits = {
  /** Hosts one request may name. */
  hosts: 1024,
  /** Nodes running at once for one exec. */
  maxParallel: 256,
  argvItems: 4096,
  argChars: 128 * 1024,
} as const;

const Chunk = Type.String({ maxLength: InteractiveLimits.chunkChars });

/** First frame. `exec`: argv on every matching node; `shell`: root's login shell on one node. */
export const NodeSessionRequest = Type.Object({
  type: Type.Literal('open'),
  mode: Type.Union([Type.Literal('exec'), Type.Literal('shell')]),
  /** Only these hosts (names as qhost shows them); empty: every connected host of `group`, or all. */
  hosts: Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: NodeSessionLimits.hosts }),
  group: Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()]),
  argv: Type.Array(Type.String({ maxLength: NodeSessionLimits.argChars }), { maxItems: NodeSessionLimits.argvItems }),
  tty: Type.Union([WindowSize, Type.Null()]),
  /** exec: nodes running at once. */
  parallel: Type.Integer({ minimum: 1, maximum: NodeSessionLimits.maxParallel }),
  /** The CLI sends input (stdin of every node, e.g. `qfarm push`): all nodes start at once. */
  input: Type.Boolean(),
});
export type NodeSessionRequest = Static<typeof NodeSessionRequest>;

export const NodeClientFrame = Type.Union([
  NodeSessionRequest,
  Type.Object({ type: Type.Literal('input'), data: Chunk }),
  Type.Object({ type: Type.Literal('resize'), size: WindowSize }),
  Type.Object({ type: Type.Literal('eof') }),
]);
export type NodeClientFrame = Static<typeof NodeClientFrame>;

export const NodeServerFrame = Type.Union([
  Type.Object({ type: Type.Literal('targets'), hosts: Type.Array(Type.String()) }),
  Type.Object({ type: Type.Literal('output'), host: Type.String(), stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]), data: Type.String() }),
  Type.Object({ type: Type.Literal('exit'), host: Type.String(), exitStatus: Type.Integer({ minimum: 0, maximum: 255 }), reason: Type.String(), ms: Type.Number({ minimum: 0 }) }),
  Type.Object({ type: Type.Literal('credit'), bytes: Type.Integer({ minimum: 0 }) }),
  Type.Object({ type: Type.Literal('done') }),
  Type.Object({ type: Type.Literal('error'), message: Type.String() }),
]);
export type NodeServerFrame = Static<typeof NodeServerFrame>;

export const nodeClientFrame = compile('node session frame', NodeClientFrame);
export const nodeServerFrame = compile('node session frame from the master', NodeServerFrame);
