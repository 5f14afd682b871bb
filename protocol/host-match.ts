import type { JobSubmission } from './job-spec.js';
import type { HostInventory } from './agent-messages.js';

/** What the matcher needs to know of a host. */
export interface HostFacts {
  hello: HostInventory;
  memUsedBytes: number;
}

/** `-q` accepts `group`, `group@host`, `*@host`, wildcards, and comma lists, as SGE's queue lists do. */
export function queueMatches(queueList: string | undefined, group: string, hostname: string): boolean {
  if (!queueList) return true;
  return queueList.split(',').some((entry) => {
    const [q, h] = entry.trim().split('@', 2) as [string, string | undefined];
    return glob(q || '*', group) && (h === undefined || glob(h, hostname));
  });
}

function glob(pattern: string, value: string): boolean {
  if (pattern === '*' || pattern === value) return true;
  if (!pattern.includes('*') && !pattern.includes('?')) return false;
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  return re.test(value);
}

/**
 * Why a host cannot run a job's task, or null when it can (slots are checked by the scheduler).
 * `-l name=value` requests are matched against the host's labels, `arch` and `hostname`;
 * names the host does not define are not constraints (SGE would reject unknown complexes at
 * submission with -w e; see the compatibility table).
 */
export function hostMismatch(spec: Omit<JobSubmission, 'submitter'>, host: HostFacts): string | null {
  const { hello } = host;
  if (!queueMatches(spec.queue, hello.group, hello.hostname)) return `queue ${spec.queue} does not match ${hello.group}@${hello.hostname}`;
  if (spec.slots > hello.slots) return `host ${hello.hostname} has ${hello.slots} slots, the job needs ${spec.slots}`;
  const free = hello.memTotalBytes - host.memUsedBytes;
  if (spec.resources.memFreeBytes !== undefined && free < spec.resources.memFreeBytes) {
    return `host ${hello.hostname} has ${free} bytes free, the job needs mem_free=${spec.resources.memFreeBytes}`;
  }
  for (const [name, wanted] of Object.entries(spec.resources.other)) {
    const have = name === 'arch' ? hello.arch : name === 'hostname' ? hello.hostname : hello.labels[name];
    if (have !== undefined && !glob(wanted, have)) return `host ${hello.hostname} has ${name}=${have}, the job needs ${wanted}`;
  }
  return null;
}
