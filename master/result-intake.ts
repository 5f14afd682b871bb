import type { Logger } from 'pino';
import type { TaskFinished } from '../protocol/agent-messages.js';
import type { JobSubmission } from '../protocol/job-spec.js';
import type { AgentSession } from './agent-session.js';
import type { MasterEventBus } from './events.js';
import type { AttemptReader } from './store/attempt-reader.js';
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
  ) {}

  accept(session: AgentSession, reported: TaskFinished): void {
    const { result, refused } = withVerifiedOutputs(reported, this.outputUrlOf(reported.attemptId));
    if (refused) {
      this.log.warn({ agent: session.hostname, attempt: result.attemptId, reason: result.failedReason }, 'refused a success without verified outputs; the task runs again');
    }
    const ref = this.attempts.ref(result.attemptId);
    const outcome = this.transitions.commitResult(result);
    if (outcome === CommitOutcome.Committed && ref) this.events.emit('attempt:result', session.hostname, ref.job_id, result);
    session.attempts.delete(result.attemptId);
    if (outcome === CommitOutcome.Stale) {
      this.log.info({ agent: session.hostname, attempt: result.attemptId }, 'discarded the result of an attempt the master had given up on');
    }
    // Acknowledge in every case: the agent may forget the result; it is committed or moot.
    session.send({ type: 'ack', attemptId: result.attemptId });
    if (outcome !== CommitOutcome.Committed) this.events.emit('schedule:wanted', 'slot freed');
  }

  /** The output location (`-outdir`) of the job an attempt belongs to, if it has one. */
  private outputUrlOf(attemptId: string): string | undefined {
    const spec = this.attempts.jobSpec(attemptId);
    return spec === undefined ? undefined : (JSON.parse(spec) as JobSubmission).data?.outputUrl;
  }
}
