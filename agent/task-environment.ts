import { randomBytes } from 'node:crypto';
import type { TaskAssignment } from '../protocol/agent-messages.js';
import type { RunAs } from './task-user.js';

/** Environment variable that tags every process of a task, so escaped daemons can be found on kill. */
export const TASK_TAG_VAR = 'QFARM_TASK_TAG';

const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin';

/**
 * The task's environment: the master's (job env + SGE variables) plus what only the agent knows
 * (TMPDIR, HOSTNAME). Identity variables follow the user the task really runs as.
 */
export function taskEnvironment(
  assignment: TaskAssignment,
  opts: { tmpdir: string; hostname: string; runAs: RunAs },
): Record<string, string> {
  const env: Record<string, string> = { ...assignment.env };
  env.TMPDIR = opts.tmpdir;
  env.TMP = opts.tmpdir;
  env.HOSTNAME = opts.hostname;
  env.NSLOTS ??= String(assignment.slots);
  env.PATH ??= DEFAULT_PATH;
  if (opts.runAs.kind === 'drop' || env.HOME === undefined) {
    env.HOME = assignment.user.home;
    env.USER = assignment.user.name;
    env.LOGNAME = assignment.user.name;
  }
  if (assignment.pty) env.TERM ??= 'xterm';
  env[TASK_TAG_VAR] = `${assignment.attemptId}.${randomBytes(6).toString('hex')}`;
  return env;
}
