import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { GroupSetup } from './supplementary-groups.js';

/**
 * The one way a root agent starts a process for a user. Everything a user controls (their
 * environment, paths, symlinks, working directory) may be touched only by such a process, never
 * by the agent itself: the kernel then checks the user's own rights.
 *
 * The root half (setpriv, before it switches uid) runs with the agent's own minimal environment,
 * never the user's: LD_PRELOAD, LD_LIBRARY_PATH, BASH_ENV, GCONV_PATH… of a job cannot reach a
 * process running as root. Secrets of the agent (QFARM_AGENT_TOKEN, cloud keys) are not in it.
 */

/** PATH of every process the agent starts for a user, until the user's own environment applies. */
export const SAFE_PATH = '/usr/local/bin:/usr/bin:/bin';

export interface UserIdentity {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The minimal environment of a helper process started as `user` (a writer, a copier). */
export function helperEnvironment(user: UserIdentity): Record<string, string> {
  return { PATH: SAFE_PATH, HOME: user.home, USER: user.name, LOGNAME: user.name, LANG: 'C.UTF-8' };
}

export interface AsUserOptions {
  stdio?: StdioOptions;
  /** Directory the root half starts in: never the user's (it is entered as root). @default '/' */
  cwd?: string;
  /** Environment of the process once it runs as the user. @default helperEnvironment(user) */
  env?: Record<string, string>;
  detached?: boolean;
}

/** How to start `argv` as a user: the command (maybe behind setpriv) and the uid/gid spawn must set. */
export interface UserLaunch {
  argv: string[];
  /** Set only when spawn itself must switch (no setpriv); absent when no switch is needed. */
  uid?: number;
  gid?: number;
}

/**
 * The launch plan for `argv` as `user`: nothing to switch when the agent already runs as that
 * uid (a non-root agent's own tasks keep their groups); setpriv --init-groups when the agent is
 * root and setpriv exists; else Node's uid/gid switch (no supplementary groups).
 */
export function launchAsUser(argv: string[], user: UserIdentity, groups: GroupSetup | undefined): UserLaunch {
  if (user.uid === process.getuid?.()) return { argv };
  const prefix = groups?.prefix(user.uid, user.gid) ?? null;
  return prefix ? { argv: [...prefix, ...argv] } : { argv, uid: user.uid, gid: user.gid };
}

/**
 * Spawns `argv` as `user` (see launchAsUser). `env` is given to the root half (setpriv), which
 * runs as root for a moment: pass only helperEnvironment-like values here; a task's own
 * environment is applied after the switch by the exec helper (agent/exec-helper.ts).
 */
export function spawnAsUser(argv: string[], user: UserIdentity, groups: GroupSetup | undefined, options: AsUserOptions = {}): ChildProcess {
  const launch = launchAsUser(argv, user, groups);
  return spawn(launch.argv[0]!, launch.argv.slice(1), {
    cwd: options.cwd ?? '/',
    env: options.env ?? helperEnvironment(user),
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
    ...(launch.uid === undefined ? {} : { uid: launch.uid, gid: launch.gid }),
  });
}
