import type { JobWaitResponse } from '../protocol/api.js';

/** Signal names by number on Linux, for `Job 9 exited because of signal SIGKILL`. */
const signalNames: Record<number, string> = {
  1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 4: 'SIGILL', 6: 'SIGABRT', 7: 'SIGBUS', 8: 'SIGFPE', 9: 'SIGKILL',
  10: 'SIGUSR1', 11: 'SIGSEGV', 12: 'SIGUSR2', 13: 'SIGPIPE', 14: 'SIGALRM', 15: 'SIGTERM', 24: 'SIGXCPU', 25: 'SIGXFSZ',
};

/** One line of `qsub -sync y`'s report and the stream SGE 8.1.9 prints it on. */
export interface SyncLine {
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface SyncReport {
  /** Lines qsub -sync y prints: a task that exited 0 on stdout, every other outcome on stderr. */
  lines: SyncLine[];
  /** qsub's own exit status. */
  exitCode: number;
}

/**
 * What `qsub -sync y` reports once the job has ended, as SGE 8.1.9 words it: one line per task
 * (`Job 4 exited with exit code 0.` on stdout; `Job 3.2 exited with exit code 1.`, `Job 9 exited
 * because of signal SIGKILL`, `Unable to run job 8` for a deleted job on stderr).
 *
 * Exit status: a plain job's exit code; 1 when it died of a signal or could not run. For an
 * array, SGE returns the status of the first task that failed (measured: tasks exiting 1,2,3
 * give 1, tasks exiting 3,2,1 give 3), which qfarm takes in task order. One deliberate
 * difference: SGE exits 0 when the job was deleted (qdel); qfarm exits 1, so a deleted job is
 * never mistaken for a success.
 */
export function syncReport(wait: JobWaitResponse, isArray: boolean): SyncReport {
  const lines: SyncLine[] = [];
  let exitCode = 0;
  for (const task of wait.tasks) {
    const label = isArray && task.taskId !== null ? `${wait.jobId}.${task.taskId}` : String(wait.jobId);
    let code: number;
    if (task.deleted) {
      lines.push({ stream: 'stderr', text: `Unable to run job ${label}` });
      code = 1;
    } else if (task.exitStatus === 0 && (task.failedCode === 1 || task.failedCode === 26)) {
      // Never ran (set-up, staging or output file failed): SGE's "never ran" line, then qfarm's reason.
      lines.push({ stream: 'stderr', text: `Unable to run job ${label}` });
      if (task.failedReason) lines.push({ stream: 'stderr', text: `Job ${label} failed before it ran: ${task.failedReason}` });
      code = 1;
    } else if (task.exitStatus > 128 && signalNames[task.exitStatus - 128] !== undefined) {
      lines.push({ stream: 'stderr', text: `Job ${label} exited because of signal ${signalNames[task.exitStatus - 128]}` });
      code = 1;
    } else if (task.failedCode !== 0 && task.exitStatus === 0) {
      // Not "exited with exit code 0" (and qsub exiting 1): say why it failed.
      const why = task.failedReason ? `: ${task.failedReason}` : ` (failed ${task.failedCode}; see qacct -j ${wait.jobId})`;
      lines.push({ stream: 'stderr', text: `Job ${label} exited with exit code 0 but failed${why}` });
      code = 1;
    } else {
      // Measured on SGE 8.1.9: exit code 0 is reported on stdout, any other on stderr.
      lines.push({ stream: task.exitStatus === 0 ? 'stdout' : 'stderr', text: `Job ${label} exited with exit code ${task.exitStatus}.` });
      code = task.exitStatus !== 0 ? task.exitStatus : task.failedCode !== 0 ? 1 : 0;
    }
    if (exitCode === 0) exitCode = code;
  }
  return { lines, exitCode };
}
