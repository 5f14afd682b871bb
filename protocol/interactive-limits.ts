import { Type, type Static } from '@sinclair/typebox';

/** Bounds of interactive sessions, shared by the CLI ↔ master and master ↔ agent frames. */
export const InteractiveLimits = {
  /** Raw bytes of one input or output chunk (base64 on the wire). */
  chunkBytes: 64 * 1024,
  /** base64 of one chunk. */
  chunkChars: Math.ceil((64 * 1024) / 3) * 4,
  /**
   * Input bytes in flight (sent by the CLI, not yet written to the job's stdin or pty). The
   * master and the agent hold at most this much per session; the CLI waits for `credit`.
   */
  inputWindowBytes: 256 * 1024,
  /** Terminal sizes beyond this are not real terminals. */
  maxCols: 1000,
  maxRows: 1000,
  /** Interactive sessions one agent may hold at once (each also occupies a slot). */
  sessionsPerAgent: 256,
  /** Interactive sessions one user may hold open on the master. */
  sessionsPerUser: 64,
} as const;

export const WindowSize = Type.Object({
  cols: Type.Integer({ minimum: 1, maximum: InteractiveLimits.maxCols }),
  rows: Type.Integer({ minimum: 1, maximum: InteractiveLimits.maxRows }),
});
export type WindowSize = Static<typeof WindowSize>;

