import {
  Drain,
  KillTask,
  masterMessage,
  Refused,
  ResultAck,
  TaskAssignment,
  Welcome,
  type MasterMessage,
} from '../protocol/agent-messages.js';
import { compile, ProtocolValidationError } from '../protocol/validate.js';

// Per-type validators: a union failure only says "Expected union value"; the frame's own type
// says which field was wrong, which is what a person reading the agent log needs.
const byType = {
  welcome: compile('welcome frame', Welcome),
  refused: compile('refused frame', Refused),
  assign: compile('assign frame', TaskAssignment),
  kill: compile('kill frame', KillTask),
  ack: compile('ack frame', ResultAck),
  drain: compile('drain frame', Drain),
} as const;

/** Parses and validates one text frame from the master; throws ProtocolValidationError naming the problem. */
export function parseMasterFrame(text: string): MasterMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ProtocolValidationError('master frame (not JSON)', [(err as Error).message]);
  }
  if (masterMessage.check(value)) return value;
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof type === 'string' && Object.hasOwn(byType, type)) {
    byType[type as keyof typeof byType].parse(value);
  }
  throw new ProtocolValidationError('master frame', [`unknown frame type ${JSON.stringify(type)}`]);
}
