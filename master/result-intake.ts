import type { Logger } from 'pino';
import type { TaskFinished } from '../protocol/agent-messages.js';
import type { AgentSession } from './agent-session.js';
import type { MasterEventBus } from './events.js';
import type { JobSpecs } from './job-specs.js';
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
    /** Parsed once per job, shared with the scheduler: the `-outdir` of every result is read there. */
    private readonly specs: JobSpecs,
  ) {}

  accept(session: AgentSession, reported: TaskFinished): void {
    // The session knows its live attempts; a replayed result of a committed one is looked up.
    const live = session.attempts.get(reported.attemptId);
    const jobId = live ? live.jobId : this.attempts.ref(reported.attemptId)?.job_id;
    const outputUrl = jobId === undefined ? undefined : this.specs.of(jobId)?.data?.outputUrl;
    const { result, refused } = withVerifiedOutputs(reported, outputUrl);
    if (refused) {
      this.log.warn({ agent: session.hostname, attempt: result.attemptId, reason: result.failedReason }, 'refused a success without verified outputs; the task runs again');
    }
    const outcome = this.transitions.commitResult(result);
    if (outcome === CommitOutcome.Committed && jobId !== undefined) this.events.emit('attempt:result', session.hostname, jobId, result);
    session.removeAttempt(result.attemptId);
    if (outcome === CommitOutcome.Stale) {
      this.log.info({ agent: session.hostname, attempt: result.attemptId }, 'discarded the result of an attempt the master had given up on');
    }
    // Acknowledge in every case, once the turn is durable: the agent may then forget the result.
    this.tick.afterCommit(() => session.send({ type: 'ack', attemptId: result.attemptId }));
    if (outcome !== CommitOutcome.Committed) this.events.emit('schedule:wanted', 'slot freed');
  }
}
