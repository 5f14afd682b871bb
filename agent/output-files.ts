import fs from 'node:fs';
import path from 'node:path';

/** An output file could not be opened for the task's user (SGE's failed code 26). */
export class OutputFileError extends Error {
  constructor(
    readonly file: string,
    readonly user: string,
    readonly problem: string,
  ) {
    super(`cannot open output file ${file} for user ${user}: ${problem}`);
    this.name = 'OutputFileError';
  }
}

/**
 * The task's working directory cannot be entered by its user (`-wd /root/secret`): decided by a
 * process already running as the user, never by a root-side stat.
 */
export class WorkingDirectoryError extends Error {
  constructor(
    readonly cwd: string,
    readonly user: string,
    readonly problem: string,
  ) {
    super(`working directory ${cwd} cannot be entered by user ${user}: ${problem}`);
    this.name = 'WorkingDirectoryError';
  }

  /** The task's failed reason, naming the host. */
  onHost(hostname: string): string {
    // dash says "No such file", strerror "No such file or directory".
    if (/^No such file/.test(this.problem)) return `working directory ${this.cwd} does not exist on host ${hostname}`;
    return `working directory ${this.cwd} cannot be entered by user ${this.user} on host ${hostname}: ${this.problem}`;
  }
}

/** SGE's default output file name: `NAME.oJOB` or, for an array task, `NAME.oJOB.TASK`. */
export function defaultOutputName(jobName: string, jobId: number, taskId: number | null, kind: 'o' | 'e'): string {
  return `${jobName}.${kind}${jobId}${taskId === null ? '' : `.${taskId}`}`;
}

/**
 * The path a stream names, without looking at the file system: `$HOSTNAME` expanded, relative
 * paths taken from the task's cwd, an empty path the default file name in the cwd. Whether it
 * is an existing directory is decided by the user's writer (output-sink.ts openUserSink).
 */
export function expandOutputPath(given: string, opts: { cwd: string; hostname: string; defaultName: string }): string {
  const expanded = given.replace(/\$\{HOSTNAME\}|\$HOSTNAME\b/g, opts.hostname);
  if (expanded === '') return path.join(opts.cwd, opts.defaultName);
  return path.resolve(opts.cwd, expanded) + (expanded.endsWith('/') && expanded !== '/' ? '/' : '');
}

/**
 * Where a stream goes, for a task of the agent's own user (the agent may look for itself):
 * `$HOSTNAME` expanded (the master expands the rest), relative paths taken
 * from the task's cwd, an empty path or an existing directory gets SGE's default file name.
 */
export function resolveOutputPath(
  given: string,
  opts: { cwd: string; hostname: string; jobName: string; jobId: number; taskId: number | null; kind: 'o' | 'e'; user: string },
): string {
  const expanded = given.replace(/\$\{HOSTNAME\}|\$HOSTNAME\b/g, opts.hostname);
  const name = defaultOutputName(opts.jobName, opts.jobId, opts.taskId, opts.kind);
  if (expanded === '') return path.join(opts.cwd, name);
  const full = path.resolve(opts.cwd, expanded);
  try {
    if (fs.statSync(full).isDirectory()) return path.join(full, name);
  } catch {
    // Does not exist yet: a file name — unless it ends in a slash, which names a directory that
    // must exist (SGE: "can't open output file ...: Is a directory", and the task does not run).
    if (expanded.endsWith('/')) {
      throw new OutputFileError(`${full}/`, opts.user, `the directory does not exist: create it before submitting (mkdir -p ${full})`);
    }
  }
  return full;
}
