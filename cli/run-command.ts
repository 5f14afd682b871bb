import { CliError, ExitCode, HelpRequested } from './cli-errors.js';
import { isStorageFailure, storageErrorHint } from './setup-error-hint.js';

/** What a verb's main returns: its exit status. Output goes through `out`/`err`. */
export type CommandMain = (argv: string[]) => Promise<number>;

/** Lines to stdout/stderr, so formatters stay pure and mains stay testable. */
export const out = (text: string): void => void process.stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
export const err = (text: string): void => void process.stderr.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);

/** Prints a CLI error the way SGE does (its message as is), then what to do about it. */
export function reportError(verb: string, error: unknown): number {
  if (error instanceof HelpRequested) {
    out(error.text);
    return ExitCode.Ok;
  }
  if (error instanceof CliError) {
    err(error.message);
    if (error.hint) err(`hint: ${error.hint}`);
    return error.exitCode;
  }
  if (isStorageFailure(error)) {
    // Keys, endpoint, clock, bucket: the user's setup, said with what to check.
    err(`${verb}: ${error.message}`);
    err(`hint: ${storageErrorHint(error)}`);
    return ExitCode.Failure;
  }
  const message = error instanceof Error ? error.message : String(error);
  err(`${verb}: internal error: ${message}`);
  if (process.env.QFARM_DEBUG && error instanceof Error && error.stack) err(error.stack);
  err('hint: this is a bug in qfarm; rerun with QFARM_DEBUG=1 for a stack trace and report it');
  return ExitCode.Failure;
}

/**
 * Runs a verb's main and sets the exit status. Uses process.exitCode instead of process.exit
 * so that everything written to a pipe is flushed first; a closed stdout (`qstat | head`) ends
 * quietly as it does for SGE's commands.
 */
export function runCommand(verb: string, main: CommandMain): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.exitCode = reportError(verb, error);
    },
  );
}
