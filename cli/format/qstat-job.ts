import type { JobDetail, TaskDetail } from '../../protocol/api.js';
import type { ResourceRequest } from '../../protocol/job-spec.js';
import { formatMemorySpec } from '../sge-values.js';
import { bytesPerGB, qstatVmem } from './sge-memory.js';
import { ctimeDate, hhmmss, qstatDate } from './sge-time.js';

const SEPARATOR = '==============================================================\n';
const LABEL_WIDTH = 28;

function field(label: string, value: string | number): string {
  return `${`${label}:`.padEnd(LABEL_WIDTH)}${value}\n`;
}

/** `usage         1:` — per-task labels with the task id right-aligned, as SGE prints them. */
function taskLabel(label: string, taskId: number | null): string {
  return `${label.padEnd(10)}${String(taskId ?? 1).padStart(5)}:`;
}

/** `h_rt=600,h_vmem=1G,mem_free=500M`: SGE's hard resource_list, sorted by name. */
export function resourceList(resources: ResourceRequest): string {
  const pairs: Array<[string, string]> = Object.entries(resources.other);
  if (resources.wallclockSeconds !== undefined) pairs.push(['h_rt', String(resources.wallclockSeconds)]);
  if (resources.vmemBytes !== undefined) pairs.push(['h_vmem', formatMemorySpec(resources.vmemBytes)]);
  if (resources.memFreeBytes !== undefined) pairs.push(['mem_free', formatMemorySpec(resources.memFreeBytes)]);
  return pairs
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

function usageLine(task: TaskDetail): string {
  const u = task.usage!;
  // SGE's mem is the integral of memory over CPU time (GB s); qfarm samples no integral, so it
  // approximates it with the peak virtual memory times the CPU seconds.
  const memGBs = (u.maxVmemBytes / bytesPerGB) * u.cpuSeconds;
  const value = `cpu=${hhmmss(u.cpuSeconds)}, mem=${memGBs.toFixed(5)} GB s, io=${(u.ioBytes / bytesPerGB).toFixed(5)} GB, vmem=${qstatVmem(u.vmemBytes)}, maxvmem=${qstatVmem(u.maxVmemBytes)}`;
  return `${taskLabel('usage', task.taskId).padEnd(LABEL_WIDTH)}${value}\n`;
}

/**
 * One job's block of `qstat -j`: SGE's fields in SGE's order. Fields SGE prints only when set
 * (cwd, paths, priority, queue, env, arguments, array, pe, holds) are printed only when set.
 * `SGE_O_*` variables that qsub recorded become the sge_o_* fields and stay out of env_list.
 */
export function formatJobDetail(job: JobDetail): string {
  const env = job.env;
  // qfarm's tokens are never printed, even if a job was submitted with them by an older qsub.
  const visibleEnv = Object.entries(env).filter(([name]) => !name.startsWith('SGE_O_') && name !== 'QFARM_TOKEN' && name !== 'QFARM_AGENT_TOKEN');
  let text = SEPARATOR;
  text += field('job_number', job.jobId);
  text += field('exec_file', `job_scripts/${job.jobId}`);
  text += field('submission_time', ctimeDate(job.submitTime));
  text += field('owner', job.submitter.user);
  text += field('uid', job.submitter.uid);
  text += field('group', job.submitter.group);
  text += field('gid', job.submitter.gid);
  text += field('sge_o_home', env.SGE_O_HOME ?? job.submitter.home);
  if (env.SGE_O_PATH !== undefined) text += field('sge_o_path', env.SGE_O_PATH);
  if (env.SGE_O_SHELL !== undefined) text += field('sge_o_shell', env.SGE_O_SHELL);
  text += field('sge_o_workdir', env.SGE_O_WORKDIR ?? job.submitCwd);
  text += field('sge_o_host', env.SGE_O_HOST ?? job.submitHost);
  if (job.startAfter !== undefined) text += field('execution_time', ctimeDate(job.startAfter));
  text += field('account', 'sge');
  if (job.cwd !== job.submitter.home) text += field('cwd', job.cwd);
  if (job.stderrPath !== null) text += field('stderr_path_list', `NONE:NONE:${job.stderrPath}`);
  if (job.joinOutput) text += field('merge', 'y');
  const resources = resourceList(job.resources);
  if (resources !== '') text += field('hard resource_list', resources);
  text += field('mail_list', `${job.submitter.user}@${job.submitHost}`);
  text += field('notify', job.notify === true ? 'TRUE' : 'FALSE');
  text += field('job_name', job.name);
  if (job.stdoutPath !== null) text += field('stdout_path_list', `NONE:NONE:${job.stdoutPath}`);
  if (job.priority !== 0) text += field('priority', job.priority);
  text += field('jobshare', 0);
  if (job.queue !== null) text += field('hard_queue_list', job.queue);
  if (job.rerun !== undefined) text += field('restart', job.rerun ? 'y' : 'n');
  if (visibleEnv.length > 0) text += field('env_list', visibleEnv.map(([k, v]) => `${k}=${v}`).join(','));
  const args = job.command.kind === 'binary' ? job.command.argv.slice(1) : job.command.args;
  if (args.length > 0) text += field('job_args', args.join(','));
  text += field('script_file', job.command.kind === 'binary' ? job.command.argv[0]! : job.command.scriptName);
  // As requested (ids and names), then the unfinished ones among them, then the other direction.
  const requested = job.holdJobsRequested ?? job.holdJobs.map(String);
  if (requested.length > 0) text += `${'jid_predecessor_list (req):'.padEnd(LABEL_WIDTH)}${requested.join(',')}\n`;
  if (job.waitingFor.length > 0) text += field('jid_predecessor_list', job.waitingFor.join(','));
  if ((job.successors ?? []).length > 0) text += field('jid_successor_list', job.successors!.join(','));
  if ((job.holdJobsArray ?? []).length > 0) text += field('ja_ad_predecessor_list', job.holdJobsArray!.join(','));
  if ((job.arraySuccessors ?? []).length > 0) text += field('ja_ad_successor_list', job.arraySuccessors!.join(','));
  if (job.array !== null) text += field('job-array tasks', `${job.array.first}-${job.array.last}:${job.array.step}`);
  if (job.slots > 1) text += field('parallel environment', `smp range: ${job.slots}`);
  text += field('binding', 'NONE');
  text += field('job_type', job.command.kind === 'binary' ? 'binary' : 'NONE');
  const withUsage = job.tasks.filter((task) => task.usage !== null);
  for (const task of withUsage) text += usageLine(task);
  for (const task of withUsage) text += `${taskLabel('binding', task.taskId).padEnd(LABEL_WIDTH)}NONE\n`;
  // SGE 8.1.9: `error reason          1:      11/29/2026 20:22:27 [0:20613]: error: can't open ...`
  // (test/fixtures/sge/operating.txt); qfarm has no execd pid to put in brackets, so leaves them out.
  for (const e of job.errors ?? []) text += `error reason${String(e.taskId ?? 1).padStart(11)}:      ${qstatDate(e.time)}: error: ${e.reason.replace(/\s*\n\s*/g, ' ')}\n`;
  const info = job.schedulingInfo.length > 0 ? job.schedulingInfo : ['There are no messages available'];
  text += field('scheduling info', info[0]!);
  for (const line of info.slice(1)) text += `${' '.repeat(LABEL_WIDTH)}${line}\n`;
  return text;
}

/** SGE's complaint for ids that match no job (stderr; qstat then exits 1). */
export function formatMissingJobs(missing: readonly string[]): string {
  return `Following jobs do not exist: \n${missing.join('\n')}\n`;
}
