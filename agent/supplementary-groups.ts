import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import type { Logger } from 'pino';
import { systemClock, type AgentClock } from './clock.js';

/**
 * How a root agent gives a task its user's supplementary groups (SGE's shepherd calls
 * initgroups()). Node's spawn with `uid`/`gid` drops all supplementary groups, so a user who reaches
 * shared project data through a group could not read it. util-linux `setpriv --init-groups` does
 * what the shepherd does, then execs the task (same pid). Users unknown to this host's user
 * database (a uid from the submit host only) get no supplementary groups (`--clear-groups`).
 */
export class GroupSetup {
  private readonly known = new Map<number, { exists: boolean; at: number }>();
  private readonly setpriv: string | undefined;

  constructor(
    log: Logger,
    /** Ages the cache of which users exist. */
    private readonly clock: AgentClock = systemClock,
  ) {
    this.setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => {
      try {
        fs.accessSync(p, fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    if (!this.setpriv) log.warn('setpriv (util-linux) not found: tasks run without their users\' supplementary groups');
  }

  /** A command prefix that switches to uid/gid with the user's groups, or null to let spawn set uid/gid. */
  prefix(uid: number, gid: number): string[] | null {
    if (!this.setpriv) return null;
    const groups = this.userExists(uid) ? '--init-groups' : '--clear-groups';
    return [this.setpriv, `--reuid=${uid}`, `--regid=${gid}`, groups, '--'];
  }

  private userExists(uid: number): boolean {
    const cached = this.known.get(uid);
    // Cached for a minute: one lookup per user, not per task, yet new accounts are seen soon.
    if (cached && this.clock.now() - cached.at < 60_000) return cached.exists;
    const result = spawnSync('getent', ['passwd', String(uid)], { stdio: 'ignore', timeout: 5000 });
    const exists = result.status === 0;
    this.known.set(uid, { exists, at: this.clock.now() });
    return exists;
  }
}
