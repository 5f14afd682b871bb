/**
 * Who may change a job: its owner, root and the farm's managers (SGE's `qconf -am`). The
 * requester is always the identity of the connection (master/api/identity.ts), never a name
 * a client sent.
 */
export interface Actor {
  user: string;
  /** Root or a manager: may act on every job. */
  mayActOnAll: boolean;
}

/** The verbs that check ownership; each has its own SGE 8.1.9 refusal (test/fixtures/sge/ownership.txt). */
export type OwnerAction = 'delete' | 'alter' | 'hold' | 'clear';

function refusal(user: string, jobId: number, action: OwnerAction): string {
  switch (action) {
    case 'delete':
      return `${user} - you do not have the necessary privileges to delete the job "${jobId}"`;
    case 'clear':
      return `${user} - you have no permission to modify job "${jobId}"`;
    case 'alter':
    case 'hold':
      return `denied: "${user}" must be at least owner of job ${jobId} to change job attributes`;
  }
}

export class PermissionError extends Error {
  constructor(
    readonly requester: string,
    readonly jobId: number,
    readonly owner: string,
    readonly action: OwnerAction,
  ) {
    super(refusal(requester, jobId, action));
    this.name = 'PermissionError';
  }
}

export function checkOwner(job: { id: number; owner: string }, actor: Actor, action: OwnerAction): void {
  if (!actor.mayActOnAll && actor.user !== job.owner) throw new PermissionError(actor.user, job.id, job.owner, action);
}
