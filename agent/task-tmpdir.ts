import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { TaskAssignment } from '../protocol/agent-messages.js';
import { spawnAsUser, type UserIdentity } from './as-user.js';
import type { GroupSetup } from './supplementary-groups.js';

/** A task's TMPDIR under tmpRoot: the agent's own, 0700, until every file in it exists. */
export async function makeTaskTmpdir(tmpRoot: string, task: Pick<TaskAssignment, 'jobId' | 'taskId'>): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(tmpRoot, `qfarm.${task.jobId}.${task.taskId ?? 'undefined'}.`));
  await fsp.chmod(dir, 0o700);
  return dir;
}

/**
 * Once the user had the TMPDIR (`handedTo`), its content is theirs and may change under a
 * recursive delete (a directory swapped for a symlink to /etc between check and use, by a
 * process that escaped the kill): it is removed by `rm` running as the user, which can only
 * delete what the user could. Before that (or for the agent's own user) the agent removes it
 * itself. A failure is logged and the directory left in place: the result must still go out.
 */
export async function removeTaskTmpdir(tmpdir: string, handedTo: { user: UserIdentity; groups: GroupSetup | undefined } | undefined, log: Logger): Promise<void> {
  if (!handedTo) {
    await fsp.rm(tmpdir, { recursive: true, force: true }).catch((err: unknown) => log.warn({ err, tmpdir }, 'removing TMPDIR failed'));
    return;
  }
  const { user, groups } = handedTo;
  const rm = spawnAsUser(['/bin/rm', '-rf', '--', tmpdir], user, groups, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  rm.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => {
    rm.once('error', (err) => {
      stderr += err.message;
      resolve(null);
    });
    rm.once('close', resolve);
  });
  if (code !== 0) log.warn({ tmpdir, user: user.name, code, stderr: stderr.trim() }, `TMPDIR could not be removed as user ${user.name}; left in place`);
}
