import fs from 'node:fs';
import path from 'node:path';

/** Who the output files belong to. */
export interface FileOwner {
  uid: number;
  gid: number;
}

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
  opts: { cwd: string; hostname: string; jobName: string; jobId: number; taskId: number | null; kind: 'o' | 'e' },
): string {
  const expanded = given.replace(/\$\{HOSTNAME\}|\$HOSTNAME\b/g, opts.hostname);
  const name = defaultOutputName(opts.jobName, opts.jobId, opts.taskId, opts.kind);
  if (expanded === '') return path.join(opts.cwd, name);
  const full = path.resolve(opts.cwd, expanded);
  try {
    if (fs.statSync(full).isDirectory()) return path.join(full, name);
  } catch {
    // does not exist yet: it is a file name
  }
  return full;
}

/** Mode-bit check (ACLs aside) that `owner` may write into `dir`. */
function mayWriteDir(stat: fs.Stats, owner: FileOwner): boolean {
  if (owner.uid === 0) return true;
  if (stat.uid === owner.uid) return (stat.mode & 0o300) === 0o300;
  if (stat.gid === owner.gid) return (stat.mode & 0o030) === 0o030;
  return (stat.mode & 0o003) === 0o003;
}

/**
 * Opens (append, create 0644) an output file on behalf of the task's user and returns the fd.
 * When the agent is root acting for another user, Node cannot open files with that user's rights,
 * so we check what the kernel would have checked: the final component is no symlink (O_NOFOLLOW),
 * an existing file must belong to the user (or be a world-writable device like /dev/null), a new
 * file needs a directory the user may write; a created file is then chowned to the user.
 */
export function openOutputFile(file: string, owner: FileOwner, userName: string, actingForOther: boolean): number {
  const flags = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | (actingForOther ? fs.constants.O_NOFOLLOW : 0);
  let existed = true;
  try {
    fs.lstatSync(file);
  } catch {
    existed = false;
  }
  if (actingForOther && !existed) {
    let dirStat: fs.Stats;
    try {
      dirStat = fs.statSync(path.dirname(file));
    } catch {
      throw new OutputFileError(file, userName, `directory ${path.dirname(file)} does not exist`);
    }
    if (!dirStat.isDirectory()) throw new OutputFileError(file, userName, `${path.dirname(file)} is not a directory`);
    if (!mayWriteDir(dirStat, owner)) throw new OutputFileError(file, userName, `permission denied in ${path.dirname(file)}`);
  }
  let fd: number;
  try {
    fd = fs.openSync(file, flags, 0o644);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const problem = e.code === 'ELOOP' ? 'it is a symbolic link' : e.code === 'ENOENT' ? 'directory does not exist' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new OutputFileError(file, userName, problem);
  }
  if (actingForOther) {
    const stat = fs.fstatSync(fd);
    const device = stat.isCharacterDevice() && (stat.mode & 0o002) !== 0;
    if (existed && !device && stat.uid !== owner.uid) {
      fs.closeSync(fd);
      throw new OutputFileError(file, userName, `it exists and belongs to uid ${stat.uid}, not to the job owner`);
    }
    if (!existed) fs.fchownSync(fd, owner.uid, owner.gid);
  }
  return fd;
}
