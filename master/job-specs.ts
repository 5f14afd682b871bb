import type { JobSubmission } from '../protocol/job-spec.js';
import type { MasterEventBus } from './events.js';

/**
 * Jobs' submissions, parsed once per job for the hot path (the scheduler places tasks by it,
 * the result intake reads its `-outdir`). A submission changes only through qalter, which
 * forgets the entry; a finished job's entry is dropped.
 */
export class JobSpecs {
  private readonly parsed = new Map<number, JobSubmission>();

  constructor(events: MasterEventBus) {
    events.on('job:finished', (jobId) => this.parsed.delete(jobId));
  }

  /** The job's submission; `stored` reads its JSON when it is not parsed yet (undefined: no such job). */
  of(jobId: number, stored: () => string | undefined): JobSubmission | undefined {
    let spec = this.parsed.get(jobId);
    if (!spec) {
      const json = stored();
      if (json === undefined) return undefined;
      spec = JSON.parse(json) as JobSubmission;
      this.parsed.set(jobId, spec);
    }
    return spec;
  }

  forget(jobId: number): void {
    this.parsed.delete(jobId);
  }
}
