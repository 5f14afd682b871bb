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

/** SGE's default output file name: `NAME.oJOB` or, for an array task, `NAME.oJOB.TASK`. */
export function defaultOutputName(jobName: string, jobId: number, taskId: number | null, kind: 'o' | 'e'): string {
  return `${jobName}.${kind}${jobId}${taskId === null ? '' : `.${taskId}`}`;
}

/**
 * Where a stream goes: `$HOSTNAME` expanded (the master expands the rest), relative paths taken
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
