import type { RawData } from 'ws';
import { AgentLimits, parseAgentMessage, type AgentMessage } from '../protocol/agent-messages.js';
import { jsonDepthExceeds } from '../protocol/json-depth.js';
import { ProtocolValidationError } from '../protocol/validate.js';

/**
 * One WebSocket frame of an agent as a validated message. Throws what was wrong with it: a
 * binary frame, JSON nested past the protocol's depth, text that is not JSON, or a message
 * that fails its schema (use `frameRefusal` for the words).
 */
export function decodeAgentFrame(data: RawData, isBinary: boolean): AgentMessage {
  if (isBinary) throw new ProtocolValidationError('agent message', ['binary frames are not part of the protocol']);
  const text = data.toString();
  if (jsonDepthExceeds(text, AgentLimits.jsonDepth)) {
    throw new ProtocolValidationError('agent message', [`nests arrays/objects deeper than ${AgentLimits.jsonDepth} levels`]);
  }
  return parseAgentMessage(JSON.parse(text));
}

/** Why `decodeAgentFrame` refused a frame, for the log and the connection's close reason. */
export function frameRefusal(err: unknown): string {
  return err instanceof SyntaxError ? `not JSON: ${err.message}` : (err as Error).message;
}
