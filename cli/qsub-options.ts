import path from 'node:path';
import { parseTaskRange } from '../protocol/task-ranges.js';
import type { TaskRange } from '../protocol/job-spec.js';
import { BadOptionError, BadOptionValueError, CliError, HelpRequested, UnsupportedOptionError } from './cli-errors.js';
import { parseEnvList, parseMemoryBytes, parseResourcePairs, parseTimeSeconds, parseYesNo, splitQuotedList } from './sge-values.js';
import { splitShellWords } from './shell-words.js';
import { qsubUsage } from './qsub-usage.js';
import { InvalidMappingError, parseDataMapping, type DataMapping } from '../storage/data-mappings.js';

/**
 * qsub's options, parsed from one source (a `.sge_request` file, the script's `#$` lines or
 * the command line). Every field is optional: sources are layered by `mergeQsubOptions`, the
 * later source winning, as SGE does (default files < script directives < command line).
 */
export interface QsubOptions {
  name?: string;
  stdoutPath?: string;
  stderrPath?: string;
  joinOutput?: boolean;
  /** `-cwd` (the directory qsub runs in) or `-wd DIR` (already absolute). */
  cwd?: string;
  exportAll?: boolean;
  /** `-v`: merged per variable. */
  env: Record<string, string>;
  array?: TaskRange;
  holdJobs: string[];
  /** `-hold_jid_ad`: array dependencies, merged like holdJobs. */
  holdJobsArray: string[];
  hold?: boolean;
  priority?: number;
  terse?: boolean;
  sync?: boolean;
  queue?: string;
  slots?: number;
  /** `-l`: raw `name=value` pairs, merged per name; checked by `resourceRequest`. */
  resources: Record<string, string>;
  shell?: string;
  pty?: boolean;
  binary?: boolean;
  /** `-C`: prefix of directive lines; '' turns directives off. */
  directivePrefix?: string;
  /** `-clear`: forget what earlier sources set. */
  cleared?: boolean;
  /** qfarm's `-data SRC:/node/path[:ro|:rw]` input mappings (repeatable), parsed by storage/data-mappings. */
  dataInputs?: DataMapping[];
  /** qfarm's `-outdir URL`: where each task's `$OUTDIR` is uploaded after it succeeds. */
  outputUrl?: string;
  /** `-notify`: SIGUSR2 before the SIGKILL of qdel. */
  notify?: boolean;
  /** `-a`: earliest start (ms since the epoch). */
  startAfter?: number;
  /** `-r y|n`. */
  rerun?: boolean;
  /** `-now y`: run at once or not at all. */
  now?: boolean;
  /** `-w e|w|n|v|p`: verification of the request against the farm's hosts. */
  verify?: VerifyMode;
}

/** `qsub -w`: e error, w warning, n none, v verify only, p poke (verify against the current state). */
export type VerifyMode = 'e' | 'w' | 'n' | 'v' | 'p';

export function emptyQsubOptions(): QsubOptions {
  return { env: {}, holdJobs: [], holdJobsArray: [], resources: {} };
}

/** Where words come from; named in error hints so a bad `#$` line can be found. */
export interface OptionSource {
  /** `command line`, `script s.sh`, `/home/a/.sge_request`, ... */
  label: string;
  /** Whether the first non-option word starts the command (only on the command line). */
  allowCommand: boolean;
  /** qsub's own environment (for `-v VAR` without a value and `-V`). */
  environment: NodeJS.ProcessEnv;
  /** The directory qsub runs in (for `-cwd` and relative `-wd`, `-@`). */
  processCwd: string;
  /** Reads a `-@` option file. */
  readFile: (file: string) => string;
}

export interface ParsedWords {
  options: QsubOptions;
  /** The command (or script path) and its arguments, when the source allows them. */
  positional: string[];
  /** True when `--` ended the options (its arguments go to a script read from stdin). */
  dashDash: boolean;
}

const VERB = 'qsub';

type Handler = (opts: QsubOptions, args: string[], source: OptionSource) => void;
interface OptionSpec {
  arity: 0 | 1 | 2;
  apply: Handler;
}

function yesNo(option: string, value: string): boolean {
  const parsed = parseYesNo(value);
  if (parsed === null) throw new BadOptionValueError(VERB, option, value, `${VERB}: invalid option argument "${option} ${value}"`, `use ${option} y or ${option} n`);
  return parsed;
}

/** Strips SGE's optional `host:` prefix from an output path (qfarm writes on the task's host). */
function outputPath(value: string): string {
  const m = /^[^/:]+:(.*)$/.exec(value);
  return m ? m[1]! : value;
}

const supported: Record<string, OptionSpec> = {
  '-N': { arity: 1, apply: (o, [v]) => void (o.name = v!) },
  '-o': { arity: 1, apply: (o, [v]) => void (o.stdoutPath = outputPath(v!)) },
  '-e': { arity: 1, apply: (o, [v]) => void (o.stderrPath = outputPath(v!)) },
  '-j': { arity: 1, apply: (o, [v]) => void (o.joinOutput = yesNo('-j', v!)) },
  '-cwd': { arity: 0, apply: (o, _a, s) => void (o.cwd = s.processCwd) },
  '-wd': { arity: 1, apply: (o, [v], s) => void (o.cwd = path.resolve(s.processCwd, v!)) },
  '-V': { arity: 0, apply: (o) => void (o.exportAll = true) },
  '-v': {
    arity: 1,
    apply: (o, [v], s) => {
      try {
        Object.assign(o.env, parseEnvList(v!, s.environment));
      } catch (err) {
        throw new BadOptionValueError(VERB, '-v', v!, `${VERB}: invalid option argument "-v ${v}": ${(err as Error).message}`, 'write -v VAR=value[,VAR2=value2]; quote a value holding commas for qsub: -v \'A="x,y"\'');
      }
    },
  },
  '-t': {
    arity: 1,
    apply: (o, [v]) => {
      // SGE accepts a reversed range (`-t 5-3` submits 3-5:1); task 0 is rejected by the master.
      const m = /^(\d+)-(\d+)(:\d+)?$/.exec(v!);
      const text = m && Number(m[1]) > Number(m[2]) ? `${m[2]}-${m[1]}${m[3] ?? ''}` : v!;
      if (/:0+$/.test(text)) throw new BadOptionValueError(VERB, '-t', v!, `${VERB}: Negative or zero step in range is not allowed`, 'write -t first-last:step with step >= 1');
      if (/^0(\D|$)/.test(text)) throw new CliError(`Unable to run job: job rejected: 0 is an invalid task id\nExiting.`, 1, 'array task ids start at 1: use -t 1-N');
      const range = parseTaskRange(text);
      if (!range) throw new BadOptionValueError(VERB, '-t', v!, `${VERB}: invalid option argument "-t ${v}"`, 'write -t first-last[:step], e.g. -t 1-100:1');
      o.array = range;
    },
  },
  '-hold_jid': {
    arity: 1,
    apply: (o, [v]) => {
      for (const job of splitQuotedList(v!)) if (!o.holdJobs.includes(job)) o.holdJobs.push(job);
    },
  },
  '-hold_jid_ad': {
    arity: 1,
    apply: (o, [v]) => {
      for (const job of splitQuotedList(v!)) if (!o.holdJobsArray.includes(job)) o.holdJobsArray.push(job);
    },
  },
  '-h': { arity: 0, apply: (o) => void (o.hold = true) },
  '-p': {
    arity: 1,
    apply: (o, [v]) => {
      const n = /^[-+]?\d+$/.test(v!) ? Number(v) : NaN;
      if (!(n >= -1023 && n <= 1024)) throw new BadOptionValueError(VERB, '-p', v!, `${VERB}: invalid priority "${v}".  Must be an integer from -1023 to 1024`);
      o.priority = n;
    },
  },
  '-terse': { arity: 0, apply: (o) => void (o.terse = true) },
  '-sync': { arity: 1, apply: (o, [v]) => void (o.sync = yesNo('-sync', v!)) },
  '-q': { arity: 1, apply: (o, [v]) => void (o.queue = v!) },
  '-pe': {
    arity: 2,
    apply: (o, [pe, range]) => {
      if (!/^\d/.test(range!)) {
        throw new BadOptionValueError(VERB, '-pe', range!, `${VERB}: Numerical value invalid!\nThe initial portion of string "${range}" contains no decimal number`, 'write -pe smp N with N the number of slots');
      }
      const m = /^(\d+)(?:-(\d+))?$/.exec(range!);
      if (!m || (m[2] !== undefined && m[2] !== m[1])) {
        throw new BadOptionValueError(VERB, '-pe', range!, `${VERB}: slot range "${range}" is not supported by qfarm: request an exact number of slots`, 'write -pe smp N');
      }
      if (!singleHostPes.includes(pe!)) {
        throw new CliError(`Unable to run job: job rejected: the requested parallel environment "${pe}" does not exist\nExiting.`, 1, `qfarm runs each task on one host: use -pe smp N (or ${singleHostPes.filter((p) => p !== 'smp').join(', ')})`);
      }
      const slots = Number(m[1]);
      if (slots < 1) throw new BadOptionValueError(VERB, '-pe', range!, `${VERB}: -pe ${pe} ${range}: a task needs at least 1 slot`);
      o.slots = slots;
    },
  },
  '-l': {
    arity: 1,
    apply: (o, [v]) => {
      let pairs: Array<[string, string]>;
      try {
        pairs = parseResourcePairs(v!);
      } catch (err) {
        throw new BadOptionValueError(VERB, '-l', v!, `${VERB}: invalid option argument "-l ${v}": ${(err as Error).message}`, 'write -l name=value[,name=value]');
      }
      for (const [k, val] of pairs) o.resources[k] = val;
    },
  },
  '-S': { arity: 1, apply: (o, [v]) => void (o.shell = v!) },
  '-pty': { arity: 1, apply: (o, [v]) => void (o.pty = yesNo('-pty', v!)) },
  // qfarm's data options (no SGE equivalent): inputs mounted or staged on the node, outputs uploaded.
  '-data': {
    arity: 1,
    apply: (o, [v]) => {
      try {
        (o.dataInputs ??= []).push(parseDataMapping(v!));
      } catch (err) {
        if (err instanceof InvalidMappingError) throw new BadOptionValueError(VERB, '-data', v!, `${VERB}: ${err.message}`, 'e.g. -data oss://bucket/scenes/:/mnt/scenes:ro');
        throw err;
      }
    },
  },
  '-outdir': {
    arity: 1,
    apply: (o, [v]) => {
      if (!/^(oss|file):\/\/./.test(v!)) {
        throw new BadOptionValueError(VERB, '-outdir', v!, `${VERB}: -outdir wants an oss://bucket/prefix/ or file:///dir/ URL, got "${v}"`, 'each task writes into $OUTDIR; qfarm uploads it there after the task succeeds');
      }
      o.outputUrl = v!;
    },
  },
  '-b': { arity: 1, apply: (o, [v]) => void (o.binary = yesNo('-b', v!)) },
  '-notify': { arity: 0, apply: (o) => void (o.notify = true) },
  '-r': { arity: 1, apply: (o, [v]) => void (o.rerun = yesNo('-r', v!)) },
  '-now': { arity: 1, apply: (o, [v]) => void (o.now = yesNo('-now', v!)) },
  '-a': { arity: 1, apply: (o, [v]) => void (o.startAfter = parseStartTime(v!)) },
  '-w': {
    arity: 1,
    apply: (o, [v]) => {
      if (!['e', 'w', 'n', 'v', 'p'].includes(v!)) {
        throw new BadOptionValueError(VERB, '-w', v!, `${VERB}: invalid option argument "-w ${v}"`, 'use -w e (error), w (warning), n (none), v or p (verify only)');
      }
      o.verify = v as VerifyMode;
    },
  },
  '-C': { arity: 1, apply: (o, [v]) => void (o.directivePrefix = v!) },
  '-clear': {
    arity: 0,
    apply: (o) => {
      for (const key of Object.keys(o) as Array<keyof QsubOptions>) delete o[key];
      Object.assign(o, emptyQsubOptions(), { cleared: true });
    },
  },
  '-help': {
    arity: 0,
    apply: () => {
      throw new HelpRequested(qsubUsage());
    },
  },
};

/** Parallel environments that mean "N slots on one host", the only kind qfarm runs. */
const singleHostPes = ['smp', 'shm', 'threads', 'openmp', 'make'];

/**
 * SGE options qfarm accepts only with the value that matches what qfarm does anyway (no mail,
 * rerunnable, no verification, direct exec of binaries, batch submission).
 */
const acceptedValues: Record<string, { arity: 0 | 1; values: string[] | null; meaning: string }> = {
  '-m': { arity: 1, values: ['n'], meaning: 'qfarm sends no mail' },
  '-shell': { arity: 1, values: ['n', 'no'], meaning: 'qfarm runs binary jobs directly, without a shell' },
  '-hard': { arity: 0, values: null, meaning: 'every request is hard in qfarm' },
};

/** SGE options qfarm knows of but does not implement yet: refused with a clear message. */
const unsupported = new Set([
  '-ac', '-A', '-ar', '-binding', '-c', '-ckpt', '-dc', '-display', '-dl',
  '-i', '-js', '-jsv', '-M', '-masterq', '-P', '-R', '-sc', '-soft', '-tc', '-verify',
  '-u', '-xd', '-xdv', '-umask', '-rou', '-rdi',
]);

/**
 * Parses one source's words. On the command line the first word that is not an option (or
 * an option's argument) is the command or script, and everything after it is its arguments.
 */
export function parseQsubWords(words: readonly string[], source: OptionSource, into: QsubOptions = emptyQsubOptions()): ParsedWords {
  const opts = into;
  let i = 0;
  while (i < words.length) {
    const word = words[i]!;
    if (word === '--') {
      if (!source.allowCommand) throw new CliError(`${VERB}: "--" is only allowed on the command line (found in ${source.label})`, 2);
      return { options: opts, positional: words.slice(i + 1), dashDash: true };
    }
    if (!word.startsWith('-') || word === '-') {
      if (!source.allowCommand) {
        throw new BadOptionError(VERB, word, `${VERB}: invalid option argument "${word}"`, `only options are allowed in ${source.label}`);
      }
      return { options: opts, positional: words.slice(i), dashDash: false };
    }
    if (word === '-@') {
      const file = words[i + 1];
      if (file === undefined) throw new BadOptionError(VERB, word, `${VERB}: -@ option must have argument`);
      const full = path.resolve(source.processCwd, file);
      let text: string;
      try {
        text = source.readFile(full);
      } catch (err) {
        throw new CliError(`${VERB}: cannot read option file ${full}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 1, 'check the path given to -@');
      }
      const fileWords = text.split('\n').flatMap((line) => splitShellWords(line));
      parseQsubWords(fileWords, { ...source, label: `option file ${full}`, allowCommand: false }, opts);
      i += 2;
      continue;
    }
    const accepted = acceptedValues[word];
    if (accepted) {
      const value = accepted.arity === 1 ? words[i + 1] : undefined;
      if (accepted.arity === 1 && value === undefined) throw new BadOptionError(VERB, word, `${VERB}: ${word} option must have argument`);
      if (accepted.values === null || (value !== undefined && accepted.values.includes(value))) {
        i += 1 + accepted.arity;
        continue;
      }
      throw new UnsupportedOptionError(VERB, `${word} ${value}`);
    }
    const spec = supported[word];
    if (!spec) {
      if (unsupported.has(word)) throw new UnsupportedOptionError(VERB, word);
      throw new BadOptionError(VERB, word, `${VERB}: invalid option argument "${word}"`, `run 'qsub -help' for the options qfarm supports (found in ${source.label})`);
    }
    const args = words.slice(i + 1, i + 1 + spec.arity);
    if (args.length < spec.arity) throw new BadOptionError(VERB, word, `${VERB}: ${word} option must have argument`, `see 'qsub -help' (in ${source.label})`);
    spec.apply(opts, args, source);
    i += 1 + spec.arity;
  }
  return { options: opts, positional: [], dashDash: false };
}

/**
 * `-a [[CC]YY]MMDDhhmm[.SS]` in local time, as SGE parses it; a missing year is this year.
 * Errors as SGE 8.1.9 prints them (exit 7): an empty line, the reason, then the option.
 */
export function parseStartTime(value: string, now = new Date()): number {
  const wrong = (reason: string): BadOptionValueError =>
    new BadOptionValueError(VERB, '-a', value, `\n${reason}\n${VERB}: Wrong date/time format "${value}" specified to -a option`, 'write -a [[CC]YY]MMDDhhmm[.SS], e.g. -a 12312359 for Dec 31, 23:59');
  const m = /^(\d{8}|\d{10}|\d{12})(?:\.(\d{2}))?$/.exec(value);
  if (!m) throw wrong('Invalid format of date/hour-minute field.');
  const digits = m[1]!;
  const tail = digits.slice(-8);
  const yearText = digits.slice(0, -8);
  const year = yearText === '' ? now.getFullYear() : yearText.length === 2 ? 2000 + Number(yearText) : Number(yearText);
  const [month, day, hour, minute] = [0, 2, 4, 6].map((i) => Number(tail.slice(i, i + 2))) as [number, number, number, number];
  const second = m[2] === undefined ? 0 : Number(m[2]);
  if (month < 1 || month > 12) throw wrong('Invalid month specification.');
  if (day < 1 || day > new Date(year, month, 0).getDate()) throw wrong('Invalid day specification.');
  if (hour > 23) throw wrong('Invalid hour specification.');
  if (minute > 59) throw wrong('Invalid minute specification.');
  if (second > 59) throw wrong('Invalid seconds specification.');
  return new Date(year, month - 1, day, hour, minute, second).getTime();
}

/** Layers sources: later ones win per field, per `-v` variable and per `-l` resource. */
export function mergeQsubOptions(layers: readonly QsubOptions[]): QsubOptions {
  let start = 0;
  layers.forEach((layer, index) => {
    if (layer.cleared) start = index;
  });
  const merged = emptyQsubOptions();
  for (const layer of layers.slice(start)) {
    const { env, resources, holdJobs, holdJobsArray, cleared: _cleared, ...scalars } = layer;
    for (const [key, value] of Object.entries(scalars)) {
      if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
    }
    Object.assign(merged.env, env);
    Object.assign(merged.resources, resources);
    for (const job of holdJobs) if (!merged.holdJobs.includes(job)) merged.holdJobs.push(job);
    for (const job of holdJobsArray) if (!merged.holdJobsArray.includes(job)) merged.holdJobsArray.push(job);
  }
  return merged;
}

/** Checks `-l` values and sorts them into the request the master understands. */
export function resourceRequest(pairs: Record<string, string>): {
  wallclockSeconds?: number;
  vmemBytes?: number;
  memFreeBytes?: number;
  other: Record<string, string>;
} {
  const out: ReturnType<typeof resourceRequest> = { other: {} };
  for (const [name, value] of Object.entries(pairs)) {
    const infinite = value.toUpperCase() === 'INFINITY';
    if (name === 'h_rt') {
      const seconds = parseTimeSeconds(value);
      if (!infinite && seconds === null) throw rejected(`attribute "${name}" is not a time value`, 'write h_rt as HH:MM:SS or seconds');
      if (!infinite && seconds! > 0) out.wallclockSeconds = seconds!;
    } else if (name === 'h_vmem' || name === 'mem_free') {
      const bytes = parseMemoryBytes(value);
      if (!infinite && bytes === null) throw rejected(`attribute "${name}" is not a memory value`, 'write memory as 4G, 512M, 1024K or bytes');
      if (!infinite && bytes! > 0) {
        if (name === 'h_vmem') out.vmemBytes = bytes!;
        else out.memFreeBytes = bytes!;
      }
    } else {
      out.other[name] = value;
    }
  }
  return out;
}

function rejected(reason: string, hint: string): CliError {
  return new CliError(`Unable to run job: ${reason}\nExiting.`, 1, hint);
}
