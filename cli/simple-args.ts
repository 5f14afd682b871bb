import { BadOptionError, HelpRequested, UnsupportedOptionError } from './cli-errors.js';

/** How one verb's options look: flags, options with one argument, options whose argument is optional. */
export interface VerbOptionSpec {
  verb: string;
  usage: () => string;
  flags?: readonly string[];
  withArg?: readonly string[];
  /** Options that take an argument only when the next word does not start with `-` (`qacct -j [id]`). */
  optionalArg?: readonly string[];
  /** SGE options of this verb that qfarm does not implement: refused, never silently ignored. */
  unsupported?: readonly string[];
  /** Exit status for an unknown option (SGE's qstat/qacct/qhost exit 1, qsub 2). */
  badOptionExit?: number;
}

export interface ParsedVerbArgs {
  /** Every occurrence of every option, in order; flags map to ''. */
  options: Map<string, string[]>;
  positional: string[];
}

/** Parses SGE's single-dash long options (`-hold_jid`, `-help`) that commander cannot. */
export function parseVerbArgs(argv: readonly string[], spec: VerbOptionSpec): ParsedVerbArgs {
  const options = new Map<string, string[]>();
  const positional: string[] = [];
  const add = (name: string, value: string): void => void options.set(name, [...(options.get(name) ?? []), value]);
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '-help') throw new HelpRequested(spec.usage());
    if (!word.startsWith('-') || word === '-' || /^-\d/.test(word)) {
      positional.push(word);
      continue;
    }
    if (spec.flags?.includes(word)) {
      add(word, '');
    } else if (spec.withArg?.includes(word)) {
      const value = argv[i + 1];
      if (value === undefined) throw badOption(spec, word, `${spec.verb}: ${word} option must have argument`);
      add(word, value);
      i++;
    } else if (spec.optionalArg?.includes(word)) {
      const value = argv[i + 1];
      if (value !== undefined && !value.startsWith('-')) {
        add(word, value);
        i++;
      } else {
        add(word, '');
      }
    } else if (spec.unsupported?.includes(word)) {
      throw new UnsupportedOptionError(spec.verb, word);
    } else {
      throw badOption(spec, word, `${spec.verb}: invalid option argument "${word}"`);
    }
  }
  return { options, positional };
}

function badOption(spec: VerbOptionSpec, option: string, message: string): BadOptionError {
  const error = new BadOptionError(spec.verb, option, message, `run '${spec.verb} -help' for the options qfarm supports`);
  return spec.badOptionExit === undefined ? error : Object.assign(error, { exitCode: spec.badOptionExit });
}

/** The last value given for an option, or undefined. */
export function lastValue(parsed: ParsedVerbArgs, option: string): string | undefined {
  const values = parsed.options.get(option);
  return values === undefined ? undefined : values[values.length - 1];
}
