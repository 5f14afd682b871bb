import fs from 'node:fs';
import type { Logger } from 'pino';
import { helperEnvironment, spawnAsUser, type UserIdentity } from './as-user.js';
import { OutputFileError, WorkingDirectoryError } from './output-files.js';
import type { GroupSetup } from './supplementary-groups.js';

/** Where a task's stream is written: a file the agent opened, or a writer process running as the user. */
export interface OutputSink {
  write(data: Buffer): void;
  /** Flushes and closes; resolves when the bytes are in the file. */
  close(): Promise<void>;
}

/**
 * Opens `file` for appending, creating it with exactly `mode`: the agent's own umask must not
 * stand in for the job's (a new file is fchmod'ed; an existing one keeps its mode).
 */
function openAppending(file: string, mode: number): number {
  const { O_WRONLY, O_APPEND, O_CREAT, O_EXCL } = fs.constants;
  try {
    const fd = fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_EXCL, mode);
    fs.fchmodSync(fd, mode);
    return fd;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return fs.openSync(file, O_WRONLY | O_APPEND);
  }
}

/** A file opened by the agent itself (the task runs as the agent's own user, or it is /dev/null). */
export function openFileSink(file: string, userName: string, umask: number, log: Logger): OutputSink {
  let fd: number;
  try {
    fd = openAppending(file, 0o666 & ~umask);
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

/** Where a writer should put a stream, before anything about the path is known. */
export interface OutputRequest {
  /** Absolute path as the job gave it ($HOSTNAME expanded); may name a directory. */
  path: string;
  /** SGE's default file name, used inside `path` when it is an existing directory. */
  defaultName: string;
  /** The task's working directory: entered first, so its failure is reported as such. */
  cwd: string;
}

/** The writer opened the stream's file. */
export interface OpenedOutput {
  sink: OutputSink;
  /** The file written: `path`, or `path/defaultName` when path was a directory. */
  file: string;
}

// Runs as the user with helperEnvironment: $1 umask, $2 cwd, $3 path, $4 default name (never
// interpolated). Exit 4: cwd not enterable (the shell's reason on stderr). A path ending in "/"
// names a directory: the default name is opened in it even when -d said no, so the kernel says
// why (Permission denied, or no such directory). "R" (or "D": the path was a directory, the
// default name was used in it) on stdout says the file is open, then cat copies stdin into it.
const WRITER_SCRIPT = [
  'umask "$1" || exit 1',
  'cd -- "$2" 2>/dev/null || { true <"$2/." && echo "qfarm-output: Permission denied" >&2; exit 4; }',
  'f=$3',
  'd=R; if [ -d "$f" ]; then f="${f%/}/$4"; d=D; else case $f in */) f="${f%/}/$4"; d=D;; esac; fi',
  'exec 3>>"$f" || exit 1',
  'printf $d',
  'exec cat >&3',
].join('\n');

/** The reason the shell gave for its last failure, e.g. "Permission denied". */
function shellReason(stderr: string): string | undefined {
  const last = stderr.trim().split('\n').pop() ?? '';
  const at = last.lastIndexOf(': ');
  return at < 0 ? undefined : last.slice(at + 2).trim() || undefined;
}

/**
 * A file written by a small process running as the task's user (`sh` then `cat`), for a root
 * agent acting for someone else: the kernel checks the user's own rights — the working
 * directory, whether the path is a directory, ownership, symlinks, ACLs, NFS root_squash —
 * as when SGE's shepherd opens the file after switching user. The writer gets the minimal
 * helper environment (never the agent's: its secrets would be readable in /proc/PID/environ)
 * and the job's umask. Rejects with WorkingDirectoryError or OutputFileError.
 */
export function openUserSink(request: OutputRequest, user: UserIdentity, groups: GroupSetup | undefined, umask: number, log: Logger): Promise<OpenedOutput> {
  const intoDirectory = `${request.path.replace(/\/+$/, '')}/${request.defaultName}`;
  const argv = ['/bin/sh', '-c', WRITER_SCRIPT, 'qfarm-output', umask.toString(8).padStart(3, '0'), request.cwd, request.path, request.defaultName];
  return new Promise((resolve, reject) => {
    const child = spawnAsUser(argv, user, groups, { stdio: ['pipe', 'pipe', 'pipe'], env: helperEnvironment(user) });
    let stderr = '';
    let ready = false;
    child.stderr!.on('data', (d: Buffer) => {
      // Bounded: only the last line matters.
      if (stderr.length < 16384) stderr += d.toString();
    });
    const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    child.once('error', (err) => reject(new OutputFileError(request.path, user.name, `cannot start the writer: ${err.message}`)));
    child.stdin!.on('error', (err) => {
      if (ready) log.warn({ err: err.message, file: request.path }, 'the output writer stopped; output is still streamed to the master');
    });
    child.stdout!.once('data', (first: Buffer) => {
      ready = true;
      const sink: OutputSink = {
        write(data) {
          if (!child.stdin!.destroyed) child.stdin!.write(data);
        },
        async close() {
          child.stdin!.end();
          const code = await exited;
          if (code !== 0) log.warn({ file: request.path, code, stderr: stderr.trim() }, 'the output writer failed');
        },
      };
      // The writer decided, as the user, whether the path is a directory.
      resolve({ sink, file: first[0] === 0x44 /* D */ ? intoDirectory : request.path });
    });
    void exited.then((code) => {
      if (ready) return;
      if (code === 4) reject(new WorkingDirectoryError(request.cwd, user.name, shellReason(stderr) ?? 'cannot be entered'));
      else {
        const reason = shellReason(stderr) ?? `writer exited with ${code}`;
        const dir = request.path.replace(/\/+$/, '');
        // dash: "Directory nonexistent"; bash: "No such file or directory".
        if (request.path.endsWith('/') && /nonexistent|No such file/i.test(reason)) {
          reject(new OutputFileError(`${dir}/`, user.name, `the directory does not exist: create it before submitting (mkdir -p ${dir})`));
        } else reject(new OutputFileError(request.path, user.name, reason));
      }
    });
  });
}
