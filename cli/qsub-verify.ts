import type { HostView } from '../protocol/api.js';
import type { JobSubmitRequest as JobSubmission } from '../protocol/api.js';
import type { AgentHello } from '../protocol/agent-messages.js';
import { hostMismatch } from '../protocol/host-match.js';

/** What `qsub -w` finds when it checks a request against the farm's hosts. */
export interface Verification {
  /** `group@host` of every host that could run a task of the job (load and free slots ignored). */
  suitable: string[];
  /** Why each other host cannot, in SGE's words: `cannot run in queue "g@h" because ...`. */
  reasons: string[];
  /** The `-q` group no host belongs to, when that is the problem. */
  unknownQueue: string | null;
}

/**
 * SGE's `-w e|w|v`: could the job run on some host of the farm at all, whatever the current
 * load and free slots (the host's configuration: group, slots, memory, labels)? Uses the same
 * matcher as the scheduler (protocol/host-match.ts), with no memory in use.
 */
export function verifySubmission(submission: JobSubmission, hosts: readonly HostView[]): Verification {
  const result: Verification = { suitable: [], reasons: [], unknownQueue: null };
  if (submission.queue !== undefined) {
    const groups = new Set(hosts.map((h) => h.group));
    const queues = submission.queue.split(',').map((entry) => entry.trim().split('@')[0]!);
    if (queues.every((q) => q !== '' && !/[*?]/.test(q) && !groups.has(q))) {
      result.unknownQueue = queues[0]!;
      return result;
    }
  }
  for (const host of hosts) {
    const hello = {
      hostname: host.hostname,
      group: host.group,
      slots: host.slots,
      memTotalBytes: host.memTotalBytes,
      arch: host.arch,
      labels: host.labels,
    } as AgentHello;
    const mismatch = hostMismatch(submission, { hello, memUsedBytes: 0 });
    if (mismatch === null) result.suitable.push(`${host.group}@${host.hostname}`);
    else result.reasons.push(`Job cannot run in queue "${host.group}@${host.hostname}" because ${mismatch}`);
  }
  return result;
}
