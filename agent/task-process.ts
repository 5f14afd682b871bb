import { spawn } from 'node:child_process';
import os from 'node:os';
import pty from 'node-pty';
import { helperEnvironment, type UserIdentity, type UserLaunch } from './as-user.js';
import type { ChildCpuAccount } from './child-cpu.js';
import type { InputTarget } from './interactive/task-input.js';

/**
 * Starting a task's first process, through pipes or in a pty. Both start the root half of a
 * launch (setpriv, or spawn's own uid switch) in / with the helper environment: the task's
 * cwd, umask and environment are applied by qfarm-exec once it runs as the user.
 */

const signalName = (num: number): string | null =>
  Object.entries(os.constants.signals).find(([, n]) => n === num)?.[0] ?? null;

/** A child process started either through pipes or in a pty, behind one small interface. */
export interface Started {
  pid: number;
  /** Resolves when the first process exited (its output may still be in flight). */
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** Resolves when the output pipes are closed: every byte has been read. */
  outputClosed: Promise<void>;
  /** Stop waiting for output still held open by processes that escaped the kill. */
  abandonOutput(): void;
  /** CPU the kernel charged the agent for reaping this child (see child-cpu.ts). */
  reapedCpu: Promise<{ utimeSeconds: number; stimeSeconds: number } | undefined>;
  /** Interactive tasks only: where their input goes. */
  input?: InputTarget;
}

export function spawnPipes(
  launch: UserLaunch,
  user: UserIdentity,
  childCpu: ChildCpuAccount,
  onStdout: (b: Buffer) => void,
  onStderr: (b: Buffer) => void,
  /** qrsh without a terminal: stdin is a pipe fed from the CLI. */
  withInput = false,
): Promise<Started> {
  return new Promise((resolve, reject) => {
    const child = spawn(launch.argv[0]!, launch.argv.slice(1), {
      // The root half's: the task's own cwd and environment are applied by qfarm-exec.
      cwd: '/',
      env: helperEnvironment(user),
      // Own session and process group, so the tree can be signalled as a whole.
      detached: true,
      stdio: [withInput ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      ...(launch.uid === undefined ? {} : { uid: launch.uid, gid: launch.gid }),
    });
    child.stdout!.on('data', onStdout);
    child.stderr!.on('data', onStderr);
    let resolveReaped!: (v: { utimeSeconds: number; stimeSeconds: number } | undefined) => void;
    const reapedCpu = new Promise<{ utimeSeconds: number; stimeSeconds: number } | undefined>((r) => (resolveReaped = r));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolveExited) => {
      child.once('exit', (code, signal) => {
        void childCpu.childExited().then(resolveReaped);
        resolveExited({ code, signal });
      });
    });
    let resolveClosed!: () => void;
    const outputClosed = new Promise<void>((r) => (resolveClosed = r));
    child.once('close', () => resolveClosed());
    child.once('error', (err) => {
      if (child.pid === undefined) reject(err);
    });
    // A task that exits without reading its input closes the pipe: EPIPE is expected then.
    child.stdin?.on('error', () => undefined);
    const input: InputTarget | undefined = child.stdin
      ? {
          write: (data, written) => {
            if (child.stdin!.writable) child.stdin!.write(data, () => written());
            else written();
          },
          end: () => child.stdin!.end(),
          resize: () => undefined,
        }
      : undefined;
    child.once('spawn', () => {
      resolve({
        ...(input ? { input } : {}),
        pid: child.pid!,
        exited,
        outputClosed,
        reapedCpu,
        abandonOutput: () => {
          child.stdout!.destroy();
          child.stderr!.destroy();
          resolveClosed();
        },
      });
    });
  });
}

export function spawnPty(launch: UserLaunch, user: UserIdentity, term: string, childCpu: ChildCpuAccount, onStdout: (b: Buffer) => void): Started {
  const proc = pty.spawn(launch.argv[0]!, launch.argv.slice(1), {
    name: term,
    cols: 200,
    rows: 50,
    cwd: '/',
    env: helperEnvironment(user),
    encoding: null,
    ...(launch.uid === undefined ? {} : { uid: launch.uid, gid: launch.gid }),
  });
  proc.onData((data: string | Buffer) => onStdout(Buffer.isBuffer(data) ? data : Buffer.from(data)));
  let reapedCpu: Promise<{ utimeSeconds: number; stimeSeconds: number } | undefined> = Promise.resolve(undefined);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    proc.onExit(({ exitCode, signal }) => {
      // node-pty reaps on its own thread, so this reading is later than for piped children.
      reapedCpu = childCpu.childExited();
      resolve(signal ? { code: null, signal: signalName(signal) } : { code: exitCode, signal: null });
    });
  });
  let ended = false;
  const input: InputTarget = {
    write: (data, written) => {
      if (!ended) proc.write(data);
      written();
    },
    // The terminal's VEOF: what a user's ^D is.
    end: () => {
      if (!ended) proc.write('\x04');
    },
    resize: (size) => {
      if (!ended) proc.resize(size.cols, size.rows);
    },
  };
  void exited.then(() => (ended = true));
  return {
    input,
    pid: proc.pid,
    exited,
    // node-pty reports the exit after draining the terminal.
    outputClosed: exited.then(() => undefined),
    abandonOutput: () => undefined,
    get reapedCpu() {
      return reapedCpu;
    },
  };
}
