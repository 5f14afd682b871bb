import * as path from 'node:path';
import type { JobSubmission } from '../protocol/job-spec.js';
import type { TaskAssignment } from '../protocol/agent-messages.js';
import type { JobListRow } from './store/job-reader.js';
import type { Lease } from './store/transitions.js';

/** The PATH a task gets when the job did not pass one with -v/-V (SGE gives a minimal one too). */
const DEFAULT_TASK_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin';

/**
 * Expands SGE's pseudo variables in -o/-e paths. `$HOSTNAME` is left for the agent, which
 * knows where the task lands. A relative path is relative to the task's working directory.
 */
export function expandOutputPath(template: string, spec: JobSubmission, jobId: number, taskId: number | null): string {
  const values: Record<string, string> = {
    JOB_ID: String(jobId),
    TASK_ID: taskId === null ? 'undefined' : String(taskId),
    JOB_NAME: spec.name,
    USER: spec.submitter.user,
    HOME: spec.submitter.home,
  };
  const expanded = template.replace(/\$(?:\{(\w+)\}|(\w+))/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    return values[name] ?? whole;
  });
  return path.isAbsolute(expanded) ? expanded : path.join(spec.cwd, expanded);
}

/** SGE's default output file name: `<name>.o<job>[.<task>]` in the working directory. */
function defaultOutputPath(spec: JobSubmission, jobId: number, taskId: number | null, kind: 'o' | 'e'): string {
  const suffix = taskId === null ? '' : `.${taskId}`;
  return path.join(spec.cwd, `${spec.name}.${kind}${jobId}${suffix}`);
}

/** A task-range variable's value: SGE says `undefined` for a job that is no array. */
function undefinedUnlessArray(job: JobListRow, value: number): string {
  return job.is_array ? String(value) : 'undefined';
}

/** What differs between two tasks' assignments of one job (assignment-text.ts builds the rest once). */
export interface TaskPart {
  attemptId: string;
  taskId: number | null;
  /** $SGE_TASK_ID. */
  sgeTaskId: string;
  stdoutPath: string;
  stderrPath: string;
}

export function taskPart(job: JobListRow, spec: JobSubmission, lease: Lease): TaskPart {
  const taskId = job.is_array ? lease.taskId : null;
  return {
    attemptId: lease.attemptId,
    taskId,
    sgeTaskId: undefinedUnlessArray(job, lease.taskId),
    stdoutPath: spec.stdoutPath ? expandOutputPath(spec.stdoutPath, spec, job.id, taskId) : defaultOutputPath(spec, job.id, taskId, 'o'),
    stderrPath: spec.stderrPath ? expandOutputPath(spec.stderrPath, spec, job.id, taskId) : defaultOutputPath(spec, job.id, taskId, 'e'),
  };
}

/** Builds the complete, self-contained assignment of one leased task. */
export function buildAssignment(job: JobListRow, spec: JobSubmission, lease: Lease, group: string): TaskAssignment {
  const task = taskPart(job, spec, lease);
  const env: Record<string, string> = {
    PATH: DEFAULT_TASK_PATH,
    // What qsub recorded of the submitter's session; the CLI sends these in env, these are fallbacks.
    SGE_O_WORKDIR: spec.submitCwd,
    SGE_O_HOME: spec.submitter.home,
    SGE_O_LOGNAME: spec.submitter.user,
    SGE_O_HOST: spec.submitHost,
    SGE_O_PATH: spec.env['PATH'] ?? DEFAULT_TASK_PATH,
    SGE_O_SHELL: spec.env['SHELL'] ?? '/bin/sh',
    ...spec.env,
    // Set by the scheduler for every task, whatever the job's environment says.
    HOME: spec.submitter.home,
    USER: spec.submitter.user,
    LOGNAME: spec.submitter.user,
    SHELL: spec.shell ?? '/bin/sh',
    JOB_ID: String(job.id),
    JOB_NAME: spec.name,
    REQUEST: spec.name,
    JOB_SCRIPT: spec.command.kind === 'script' ? spec.command.scriptName : spec.command.argv[0]!,
    SGE_TASK_ID: task.sgeTaskId,
    SGE_TASK_FIRST: undefinedUnlessArray(job, job.first_task),
    SGE_TASK_LAST: undefinedUnlessArray(job, job.last_task),
    SGE_TASK_STEPSIZE: undefinedUnlessArray(job, job.step),
    NSLOTS: String(spec.slots),
    NHOSTS: '1',
    QUEUE: group,
    ENVIRONMENT: 'BATCH',
    SGE_CWD_PATH: spec.cwd,
  };
  if (spec.pty) env['TERM'] ??= 'xterm';
  return {
    type: 'assign',
    attemptId: task.attemptId,
    jobId: job.id,
    taskId: task.taskId,
    jobName: spec.name,
    user: { name: spec.submitter.user, uid: spec.submitter.uid, gid: spec.submitter.gid, home: spec.submitter.home },
    command: spec.command,
    shell: spec.shell ?? '/bin/sh',
    cwd: spec.cwd,
    env,
    stdoutPath: task.stdoutPath,
    stderrPath: task.stderrPath,
    joinOutput: spec.joinOutput,
    pty: spec.pty,
    slots: spec.slots,
    wallclockSeconds: spec.resources.wallclockSeconds ?? null,
    vmemBytes: spec.resources.vmemBytes ?? null,
    ...(spec.data ? { data: spec.data } : {}),
    ...(spec.notify === true ? { notify: true } : {}),
    ...(spec.umask !== undefined ? { umask: spec.umask } : {}),
    ...(spec.interactive === true ? { interactive: true } : {}),
  };
}
