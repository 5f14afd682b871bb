/**
 * Errors a CLI verb ends with. Each carries the exit status SGE's own command uses for the same
 * failure (measured against Son of Grid Engine 8.1.9, see test/cli/fixtures/sge-probes.txt), so
 * scripts and workflow engines that branch on `$?` keep working.
 */

/** Exit statuses SGE's clients use. */
export const ExitCode = {
  Ok: 0,
  /** Generic failure: rejected by the master, job not found, master unreachable. */
  Failure: 1,
  /** Unknown option, or an option without its argument (`qsub -foo`, `qsub -N`). */
  BadOption: 2,
  /** qhold/qrls on a job that does not exist (SGE's qhold exits 3 there). */
  HoldDenied: 3,
  /** qhold/qrls on another user's job (SGE 8.1.9 exits 18 there: test/fixtures/sge/ownership.txt). */
  NotOwner: 18,
  /** qsub read no script from stdin. */
  EmptyStdin: 4,
  /** An option's argument is malformed (`qsub -p 2000`, `qsub -j maybe`). */
  BadValue: 7,
  /** The script file cannot be read (`qsub /no/such/file`). */
  ScriptUnreadable: 14,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure the person caused and can fix; `message` is printed as is, then `hint` if any. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.Failure,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** An unknown option or a missing option argument: SGE prints one line and exits 2. */
export class BadOptionError extends CliError {
  constructor(
    readonly verb: string,
    readonly option: string,
    message: string,
    hint?: string,
  ) {
    super(message, ExitCode.BadOption, hint);
    this.name = 'BadOptionError';
  }
}

/** An option whose argument is malformed: SGE exits 7. */
export class BadOptionValueError extends CliError {
  constructor(
    readonly verb: string,
    readonly option: string,
    readonly value: string,
    message: string,
    hint?: string,
  ) {
    super(message, ExitCode.BadValue, hint);
    this.name = 'BadOptionValueError';
  }
}

/** An SGE option qfarm recognises but does not implement yet: refused, never silently ignored. */
export class UnsupportedOptionError extends CliError {
  constructor(
    readonly verb: string,
    readonly option: string,
  ) {
    super(`${verb}: option "${option}" is not supported by qfarm yet`, ExitCode.Failure, `remove ${option} from the command line, the script's #$ lines or your .sge_request files`);
    this.name = 'UnsupportedOptionError';
  }
}

/** Thrown by `-help`: print the usage text to stdout and exit 0 (shared with the agent's command line). */
export { HelpRequested } from '../logging/help-requested.js';
