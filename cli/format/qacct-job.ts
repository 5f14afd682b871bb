import type { AccountingRecord } from '../../protocol/api.js';
import { qacctMemory } from './sge-memory.js';
import { ctimeDate } from './sge-time.js';

const SEPARATOR = '==============================================================\n';

/** `name         value               `: SGE's `%-13.12s%-20s`. */
function padded(label: string, value: string | number): string {
  return `${label.slice(0, 12).padEnd(13)}${String(value).padEnd(20)}\n`;
}
/** `name         value`: the fields SGE prints without padding (`%-13.12s%s`). */
function plain(label: string, value: string): string {
  return `${label.slice(0, 12).padEnd(13)}${value}\n`;
}

/** qacct(1)'s words for SGE's failed codes (sge_status(5)); others use the master's reason. */
const failedDescriptions: Record<number, string> = {
  1: 'assumedly before job',
  26: 'opening input/output file',
  37: 'qmaster enforced h_rt, h_cpu, or h_vmem limit',
  100: 'assumedly after job',
};

/** strsignal(3) texts that qacct appends to exit_status (`137 (Killed)`). */
const signalDescriptions: Record<string, string> = {
  SIGHUP: 'Hangup',
  SIGINT: 'Interrupt',
  SIGQUIT: 'Quit',
  SIGILL: 'Illegal instruction',
  SIGABRT: 'Aborted',
  SIGBUS: 'Bus error',
  SIGFPE: 'Floating point exception',
  SIGKILL: 'Killed',
  SIGUSR1: 'User defined signal 1',
  SIGSEGV: 'Segmentation fault',
  SIGUSR2: 'User defined signal 2',
  SIGPIPE: 'Broken pipe',
  SIGALRM: 'Alarm clock',
  SIGTERM: 'Terminated',
  SIGXCPU: 'CPU time limit exceeded',
  SIGXFSZ: 'File size limit exceeded',
};

/**
 * Whether the `failed` line carries the reason after SGE's words: when those words cannot say
 * what to fix, i.e. the task never ran (1: setup, 26: an output file) or it exited 0 and failed
 * afterwards (100 without a signal: its $OUTDIR upload). Kills (qdel, limits) keep SGE's record
 * byte for byte; `awk '$1 == "failed" {print $2}'` still reads the code.
 */
function reasonNeeded(r: AccountingRecord): boolean {
  if (r.failedReason === '') return false;
  if (r.failedCode === 1 || r.failedCode === 26) return true;
  return r.failedCode === 100 && r.signal === null && r.exitStatus === 0;
}

/** Whole seconds between two instants, as SGE's second-resolution timestamps give them. */
function wallclockSeconds(r: AccountingRecord): number {
  return Math.max(0, Math.floor(r.endTime / 1000) - Math.floor(r.startTime / 1000));
}

/**
 * One finished task in `qacct -j` layout (Son of Grid Engine 8.1.9): the same fields in the
 * same order and alignment, so `awk '$1 == "exit_status" {print $2}'` and friends work.
 * Counters qfarm does not sample (page faults, context switches, ...) print as 0.
 */
export function formatAccountingRecord(r: AccountingRecord): string {
  const u = r.usage;
  // A task that never ran (set-up, staging, output file) or whose upload failed: SGE's words
  // first (scripts match them), then the master's reason, which says what failed and what to fix.
  const description = failedDescriptions[r.failedCode];
  const withReason = reasonNeeded(r);
  const failed = r.failedCode === 0 ? '' : description === undefined ? r.failedReason : withReason ? `${description}: ${r.failedReason.replace(/\s*\n\s*/g, ' ')}` : description;
  const signal = r.signal !== null ? (signalDescriptions[r.signal] ?? r.signal) : null;
  let text = SEPARATOR;
  text += padded('qname', r.qname);
  text += padded('hostname', r.hostname);
  text += padded('group', r.group);
  text += padded('owner', r.owner);
  text += padded('project', 'NONE');
  text += padded('department', 'defaultdepartment');
  text += padded('jobname', r.jobname);
  text += padded('jobnumber', r.jobnumber);
  text += r.taskid === null ? plain('taskid', 'undefined') : padded('taskid', r.taskid);
  text += padded('account', 'sge');
  text += padded('priority', r.priority);
  text += plain('qsub_time', ctimeDate(r.qsubTime));
  text += plain('start_time', r.startTime > 0 ? ctimeDate(r.startTime) : '-/-');
  text += plain('end_time', r.endTime > 0 ? ctimeDate(r.endTime) : '-/-');
  text += padded('granted_pe', r.slots > 1 ? 'smp' : 'NONE');
  text += padded('slots', r.slots);
  text += plain('failed', `${String(r.failedCode).padEnd(3)} ${r.failedCode ? ':' : ''} ${failed}`);
  text += signal === null ? padded('exit_status', r.exitStatus) : plain('exit_status', `${String(r.exitStatus).padEnd(20)} (${signal})`);
  text += plain('ru_wallclock', `${wallclockSeconds(r)}s`);
  text += plain('ru_utime', `${u.utimeSeconds.toFixed(3)}s`);
  text += plain('ru_stime', `${u.stimeSeconds.toFixed(3)}s`);
  text += plain('ru_maxrss', qacctMemory(u.maxRssBytes));
  for (const name of ['ru_ixrss', 'ru_ismrss', 'ru_idrss', 'ru_isrss']) text += plain(name, qacctMemory(0));
  for (const name of ['ru_minflt', 'ru_majflt', 'ru_nswap', 'ru_inblock', 'ru_oublock', 'ru_msgsnd', 'ru_msgrcv', 'ru_nsignals', 'ru_nvcsw', 'ru_nivcsw']) {
    text += padded(name, 0);
  }
  text += plain('cpu', `${u.cpuSeconds.toFixed(3)}s`);
  text += plain('mem', `${qacctMemory(0)}s`);
  text += plain('io', qacctMemory(u.ioBytes));
  text += plain('iow', '0.000s');
  text += plain('maxvmem', qacctMemory(u.maxVmemBytes));
  text += plain('arid', 'undefined');
  text += plain('ar_sub_time', 'undefined');
  text += plain('category', 'NONE');
  return text;
}

export { wallclockSeconds };
