import type { Logger } from 'pino';
import type { TaskFinished } from '../protocol/agent-messages.js';
import type { JobSubmission } from '../protocol/job-spec.js';
import type { AgentSession } from './agent-session.js';
import type { MasterEventBus } from './events.js';
import type { AttemptReader } from './store/attempt-reader.js';
import type { TickTransaction } from './store/tick-transaction.js';
import { CommitOutcome, type Transitions } from './store/transitions.js';
import { withVerifiedOutputs } from './verified-outputs.js';

/**
 * An agent's `finished` frame: the result is checked (a success must name verified outputs
 * when the job has `-outdir`), committed at most once, and acknowledged in every case, since
 * the agent keeps it on disk until then and replays it after each reconnect.
 */
export class ResultIntake {
  constructor(
    private readonly attempts: AttemptReader,
    private readonly transitions: Transitions,
    private readonly events: MasterEventBus,
    private readonly log: Logger,
    private readonly tick: TickTransaction,
  ) {
    events.on('job:finished', (jobId) => this.outputUrls.delete(jobId));
  }

  /** Each job's `-outdir` (or none), parsed once per job rather than once per result. */
  private readonly outputUrls = new Map<number, string | undefined>();

  accept(session: AgentSession, reported: TaskFinished): void {
    const ref = this.attempts.ref(reported.attemptId);
    const { result, refused } = withVerifiedOutputs(reported, ref ? this.outputUrlOf(ref.job_id, reported.attemptId) : undefined);
    if (refused) {
      this.log.warn({ agent: session.hostname, attempt: result.attemptId, reason: result.failedReason }, 'refused a success without verified outputs; the task runs again');
    }
    const outcome = this.transitions.commitResult(result);
    if (outcome === CommitOutcome.Committed && ref) this.events.emit('attempt:result', session.hostname, ref.job_id, result);
    session.attempts.delete(result.attemptId);
    if (outcome === CommitOutcome.Stale) {
      this.log.info({ agent: session.hostname, attempt: result.attemptId }, 'discarded the result of an attempt the master had given up on');
    }
    // Acknowledge in every case, once the turn is durable: the agent may then forget the result.
    this.tick.afterCommit(() => session.send({ type: 'ack', attemptId: result.attemptId }));
    if (outcome !== CommitOutcome.Committed) this.events.emit('schedule:wanted', 'slot freed');
  }

  /** The output location (`-outdir`) of a job, if it has one. */
  private outputUrlOf(jobId: number, attemptId: string): string | undefined {
    if (this.outputUrls.has(jobId)) return this.outputUrls.get(jobId);
    const spec = this.attempts.jobSpec(attemptId);
    const url = spec === undefined ? undefined : (JSON.parse(spec) as JobSubmission).data?.outputUrl;
    this.outputUrls.set(jobId, url);
    return url;
  }
}
