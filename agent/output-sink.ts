import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { Logger } from 'pino';
import { OutputFileError } from './output-files.js';

/** Where a task's stream is written: a file the agent opened, or a writer process running as the user. */
export interface OutputSink {
  write(data: Buffer): void;
  /** Flushes and closes; resolves when the bytes are in the file. */
  close(): Promise<void>;
}

/** A file opened by the agent itself (the task runs as the agent's own user, or it is /dev/null). */
export function openFileSink(file: string, userName: string, log: Logger): OutputSink {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o644);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const problem = e.code === 'ENOENT' ? 'directory does not exist' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new OutputFileError(file, userName, problem);
  }
  let failed = false;
  return {
    write(data) {
      try {
        fs.writeSync(fd, data);
      } catch (err) {
        if (!failed) log.warn({ err, file }, 'writing the output file failed; output is still streamed to the master');
        failed = true;
      }
    },
    async close() {
      fs.closeSync(fd);
    },
  };
}

/**
 * A file written by a small process running as the task's user (`cat >> file`), for a root agent
 * acting for someone else: the kernel then checks the user's own rights — ownership, symlinks,
 * ACLs, NFS root_squash — exactly as when SGE's shepherd opens the file after switching user.
 * Resolves once the file is open; rejects with OutputFileError and the shell's message otherwise.
 */
export function openUserSink(
  file: string,
  user: { name: string; uid: number; gid: number },
  prefix: string[] | null,
  log: Logger,
): Promise<OutputSink> {
  // $1 is the path (never interpolated); R on stdout says "open", then cat copies stdin into it.
  const script = 'umask 022; exec 3>>"$1" || exit 1; printf R; exec cat >&3';
  const argv = [...(prefix ?? []), '/bin/sh', '-c', script, 'qfarm-output', file];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(prefix ? {} : { uid: user.uid, gid: user.gid }),
    });
    let stderr = '';
    let ready = false;
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    child.once('error', (err) => reject(new OutputFileError(file, user.name, `cannot start the writer: ${err.message}`)));
    child.stdin!.on('error', (err) => {
      if (ready) log.warn({ err: err.message, file }, 'the output writer stopped; output is still streamed to the master');
    });
    child.stdout!.once('data', () => {
      ready = true;
      resolve({
        write(data) {
          if (!child.stdin!.destroyed) child.stdin!.write(data);
        },
        async close() {
          child.stdin!.end();
          const code = await exited;
          if (code !== 0) log.warn({ file, code, stderr: stderr.trim() }, 'the output writer failed');
        },
      });
    });
    void exited.then((code) => {
      if (!ready) {
        // sh's own words name the cause, e.g. "cannot create /x/y: Permission denied".
        const why = stderr.trim().split('\n').pop()?.replace(/^.*cannot create [^:]*: /, '') || `writer exited with ${code}`;
        reject(new OutputFileError(file, user.name, why));
      }
    });
  });
}
