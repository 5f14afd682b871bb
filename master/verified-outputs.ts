import { FailedCode, type TaskFinished } from '../protocol/agent-messages.js';

/**
 * A task of a job with an output location (`qsub -outdir`) is committed as a success only with
 * the agent's manifest of that location: the agent uploads `$OUTDIR` and checks every object's
 * CRC-64 before it reports, and the manifest is its proof. A success without one (an old or
 * broken agent, a bug on the upload path) would commit a task whose outputs nobody verified, so
 * it is turned into a retryable failure of the node: the agent is acknowledged as usual (it
 * forgets the result) and the task runs again, up to the attempt cap, after which qacct shows
 * this reason.
 */
export function withVerifiedOutputs(result: TaskFinished, outputUrl: string | undefined): { result: TaskFinished; refused: boolean } {
  if (outputUrl === undefined) return { result, refused: false };
  const succeeded = result.exitStatus === 0 && result.failedCode === FailedCode.None && result.retryable !== true;
  if (!succeeded) return { result, refused: false };
  if (result.outputs && result.outputs.destination === outputUrl) return { result, refused: false };
  const why = result.outputs
    ? `its output manifest is for ${result.outputs.destination}, not the job's output location ${outputUrl}`
    : `it sent no verified output manifest for the job's output location ${outputUrl}`;
  return {
    refused: true,
    result: {
      ...result,
      failedCode: FailedCode.BeforeJob,
      failedReason: `the agent reported success but ${why}; the outputs are unproven, so the task runs again`,
      retryable: true,
    },
  };
}
