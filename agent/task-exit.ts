import os from 'node:os';
import { FailedCode, zeroUsage, type TaskFinished, type TaskUsage } from '../protocol/agent-messages.js';
import { WorkingDirectoryError } from './output-files.js';

/** The end of an attempt, as the `finished` frame carries it. */
export type TaskResult = Omit<TaskFinished, 'type' | 'attemptId'>;

/** A task that failed without running (or whose run does not count): exit 0 and the reason. */
export function failedResult(startedAt: number, endedAt: number, failedCode: number, failedReason: string): TaskResult {
  return { exitStatus: 0, signal: null, failedCode, failedReason, startedAt, endedAt, usage: zeroUsage() };
}

/** Everything known when a started task's first process has ended and its output is drained. */
export interface TaskEnd {
  exit: { code: number | null; signal: string | null };
  /** qfarm-exec's own reason when it could not start the task (it exited SETUP_FAILED_EXIT). */
  setupFailure: string | undefined;
  /** The limit (h_vmem, h_rt) the task was killed for. */
  limitReason: string | undefined;
  /** Why qdel or the agent killed it, when they did. */
  killReason: string | undefined;
  /** Who and where, for the reason of a setup failure. */
  userName: string;
  hostname: string;
  /** When setup began (a setup failure's start) and when the task itself started and ended. */
  setupStartedAt: number;
  startedAt: number;
  endedAt: number;
  usage: TaskUsage;
}

const signalNumber = (name: string): number => (os.constants.signals as Record<string, number>)[name] ?? 0;

/**
 * The result of a task that was started. A setup failure is reported as one (the task never
 * ran); otherwise a limit outranks a kill request, since the limit is why the kill came.
 * Exit status as SGE: the exit code, or 128 + the signal's number.
 */
export function exitResult(end: TaskEnd): TaskResult {
  if (end.setupFailure !== undefined) {
    return failedResult(end.setupStartedAt, end.endedAt, FailedCode.BeforeJob, setupFailureReason(end.setupFailure, end.userName, end.hostname));
  }
  const exitStatus = end.exit.code ?? 128 + signalNumber(end.exit.signal ?? '');
  let failedCode: number = FailedCode.None;
  let failedReason = '';
  if (end.limitReason !== undefined) {
    failedCode = FailedCode.LimitExceeded;
    failedReason = end.limitReason;
  } else if (end.killReason !== undefined) {
    failedCode = FailedCode.AfterJob;
    failedReason = end.killReason;
  }
  return {
    exitStatus: Math.min(255, Math.max(0, exitStatus)),
    signal: end.exit.signal,
    failedCode,
    failedReason,
    startedAt: end.startedAt,
    endedAt: end.endedAt,
    usage: end.usage,
  };
}

/** qfarm-exec's reason as the task's: a working directory failure reads like the writer's. */
function setupFailureReason(reason: string, userName: string, hostname: string): string {
  const cwd = /^cannot enter working directory (.*): ([^:]+)$/.exec(reason);
  if (cwd) return new WorkingDirectoryError(cwd[1]!, userName, cwd[2]!).onHost(hostname);
  return `the task could not be started for user ${userName} on host ${hostname}: ${reason}`;
}
