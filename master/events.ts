import { EventEmitter } from 'node:events';
import type { TaskFinished, TaskUsage } from '../protocol/agent-messages.js';

/**
 * Every lifecycle event of the master, typed. The scheduler, log followers, `qsub -sync`
 * waiters and metrics hang off these instead of callbacks threaded through the code.
 */
export interface MasterEvents {
  /** Something changed that may let work start: a new job, a freed slot, a released hold... */
  'schedule:wanted': [reason: string];
  'job:submitted': [jobId: number];
  'job:finished': [jobId: number];
  'task:finished': [jobId: number, taskId: number, attemptId: string];
  'attempt:output': [attemptId: string, stream: 'stdout' | 'stderr', data: Buffer];
  'attempt:usage': [attemptId: string, usage: TaskUsage];
  'attempt:ended': [attemptId: string];
  /** The agent started the attempt's process. */
  'attempt:started': [attemptId: string, agentId: string, hostname: string];
  /** An agent wrote `bytes` of a session's input to it (session-ack); sessionId = attempt id for qrsh/qlogin. */
  'session:input-written': [sessionId: string, agentId: string, bytes: number];
  /** Output of a node session (qfarm exec/shell/push). */
  'session:output': [sessionId: string, agentId: string, stream: 'stdout' | 'stderr', data: Buffer];
  'session:exit': [sessionId: string, agentId: string, exit: { exitStatus: number; signal: string | null; reason: string }];
  /** An agent's result for an attempt was committed (retried or final): host health counts it. */
  'attempt:result': [hostname: string, jobId: number, result: TaskFinished];
  'host:online': [agentId: string, hostname: string];
  'host:offline': [agentId: string, hostname: string];
  /** A host was disabled or enabled (qmod -d/-e), or entered or left the error state E. */
  'host:state-changed': [hostname: string];
  /** The agent's spot watch saw a reclaim notice (ISO time the machine goes). */
  'host:spot-notice': [agentId: string, hostname: string, terminationTime: string];
}

export class MasterEventBus extends EventEmitter<MasterEvents> {
  constructor() {
    super();
    // Many `qfarm logs -f` followers and `qsub -sync` waiters may listen at once.
    this.setMaxListeners(0);
  }
}
