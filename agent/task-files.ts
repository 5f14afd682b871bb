import fs from 'node:fs';
import path from 'node:path';

/**
 * The files a task starts from, written by the root agent into the task's TMPDIR while that
 * directory is still its own (mkdtemp, 0700): the job script and qfarm-exec's specification.
 * Each is created with O_EXCL|O_NOFOLLOW and given to the user with fchown on the open
 * descriptor, so nothing the user could plant (a symlink, a file of the same name) is followed.
 * The directory itself is handed to the user last (handOverDirectory).
 */

/** qfarm-exec's exit status when it could not start the task (its reason is in the spec file). */
export const SETUP_FAILED_EXIT = 121;
/** The most of a failure reason the agent reads back. */
const MAX_REASON_BYTES = 4096;
const REASON_PREFIX = 'qfarm-exec: ';

/** The task cannot be described to qfarm-exec (a NUL byte in its environment or argv). */
export class TaskSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskSpecError';
  }
}

export interface Owner {
  uid: number;
  gid: number;
}

/** Creates `dir/name` exclusively, writes `content`, gives it to `owner`; returns the open descriptor. */
function createOwnedFile(dir: string, name: string, content: string | Buffer, mode: number, owner: Owner | null): number {
  const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const fd = fs.openSync(path.join(dir, name), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  try {
    fs.writeFileSync(fd, content);
    fs.fchmodSync(fd, mode);
    if (owner) fs.fchownSync(fd, owner.uid, owner.gid);
    return fd;
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** The job script, executable by its owner only. */
export function writeScriptFile(dir: string, name: string, script: string, owner: Owner | null): string {
  fs.closeSync(createOwnedFile(dir, name, script, 0o700, owner));
  return path.join(dir, name);
}

/** What qfarm-exec applies after the uid switch. */
export interface ExecSpec {
  cwd: string;
  umask: number;
  env: Record<string, string>;
  argv: string[];
}

/** qfarm-exec/1: NUL-terminated fields "qfarm-exec/1" cwd umask-octal envc env... argc argv... */
export function encodeExecSpec(spec: ExecSpec): Buffer {
  const env = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`);
  const fields = ['qfarm-exec/1', spec.cwd, spec.umask.toString(8), String(env.length), ...env, String(spec.argv.length), ...spec.argv];
  for (const f of fields) {
    if (f.includes('\0')) throw new TaskSpecError(`the job's environment or command line contains a NUL byte, which no program can receive: ${JSON.stringify(f.slice(0, 80))}`);
  }
  return Buffer.from(fields.map((f) => `${f}\0`).join(''));
}

/** The spec file qfarm-exec reads; the returned descriptor stays with the agent to read a failure reason. */
export function writeSpecFile(dir: string, spec: ExecSpec, owner: Owner | null): { file: string; fd: number } {
  const name = 'qfarm-exec.spec';
  return { file: path.join(dir, name), fd: createOwnedFile(dir, name, encodeExecSpec(spec), 0o600, owner) };
}

/** Gives the (still root-owned, 0700) TMPDIR to its user, through a descriptor of the directory itself. */
export function handOverDirectory(dir: string, owner: Owner): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  try {
    fs.fchownSync(fd, owner.uid, owner.gid);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * qfarm-exec's reason after an exit with SETUP_FAILED_EXIT, read through the kept descriptor
 * (bounded); undefined when the file still holds the specification (the task itself exited 121).
 */
export function readSetupFailure(fd: number): string | undefined {
  const buf = Buffer.alloc(MAX_REASON_BYTES);
  const n = fs.readSync(fd, buf, 0, buf.length, 0);
  const text = buf.subarray(0, n).toString('utf8');
  if (!text.startsWith(REASON_PREFIX)) return undefined;
  return text.slice(REASON_PREFIX.length).replace(/[\0\n\r]+/g, ' ').trim();
}
