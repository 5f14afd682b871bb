import type { JobSubmission } from '../protocol/job-spec.js';
import type { MasterEventBus } from './events.js';

/**
 * Jobs' submissions, parsed once per job for the hot path (the scheduler places tasks by it,
 * the result intake reads its `-outdir`). A submission changes only through qalter, which
 * forgets the entry; a finished job's entry is dropped.
 */
export class JobSpecs {
  private readonly parsed = new Map<number, JobSubmission>();

  constructor(
    events: MasterEventBus,
    /** The job's submission JSON as stored (undefined: no such job). */
    private readonly stored: (jobId: number) => string | undefined,
  ) {
    events.on('job:finished', (jobId) => this.parsed.delete(jobId));
  }

  /** The job's submission, read from the store the first time (undefined: no such job). */
  of(jobId: number): JobSubmission | undefined {
    let spec = this.parsed.get(jobId);
    if (!spec) {
      const json = this.stored(jobId);
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
