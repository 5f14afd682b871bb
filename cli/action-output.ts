import type { ActionResponse } from '../protocol/api.js';
import { out } from './run-command.js';

/**
 * Prints the master's per-target lines (`root has deleted job 8`, `denied: job "999" does not
 * exist`). SGE prints both kinds to stdout, and so does qfarm: scripts that grep qdel's output
 * see what they see with SGE. Returns whether every target succeeded.
 */
export function printActionMessages(answer: ActionResponse): boolean {
  for (const message of answer.messages) out(message.text);
  return answer.messages.every((m) => m.ok);
}
