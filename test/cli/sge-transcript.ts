import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './built-cli.js';

/** One probe of real SGE: the command as typed, its stdout and stderr lines, its exit status. */
export interface SgeProbe {
  command: string;
  /** Comment lines (`# ...`) just before the probe: what it shows. */
  notes: string[];
  stdout: string[];
  stderr: string[];
  exit: number;
}

/**
 * Reads a transcript of real Son of Grid Engine 8.1.9 from test/fixtures/sge/ (format: `$ cmd`,
 * then `out: ` / `err: ` lines, then `(exit N)`), as recorded with shared/peers/sge/setup.sh.
 */
export function readSgeTranscript(file: string): SgeProbe[] {
  const lines = readFileSync(path.join(repoRoot, 'test', 'fixtures', 'sge', file), 'utf8').split('\n');
  const probes: SgeProbe[] = [];
  let notes: string[] = [];
  let current: SgeProbe | null = null;
  for (const line of lines) {
    if (line.startsWith('$ ')) {
      current = { command: line.slice(2), notes, stdout: [], stderr: [], exit: -1 };
      notes = [];
    } else if (line.startsWith('# ')) {
      notes.push(line.slice(2));
    } else if (current && line.startsWith('out: ')) current.stdout.push(line.slice(5));
    else if (current && line === 'out:') current.stdout.push('');
    else if (current && line.startsWith('err: ')) current.stderr.push(line.slice(5));
    else if (current && /^\(exit \d+\)$/.test(line)) {
      current.exit = Number(/\d+/.exec(line)![0]);
      probes.push(current);
      current = null;
    }
  }
  return probes;
}

/** The probe whose command is exactly `command`; throws when the transcript lacks it. */
export function sgeProbe(file: string, command: string): SgeProbe {
  const probe = readSgeTranscript(file).find((p) => p.command === command);
  if (!probe) throw new Error(`"${command}" is not in test/fixtures/sge/${file}`);
  return probe;
}

/** The line of `name` in a qacct/qstat -j block. */
export const line = (text: string, name: string): string | undefined =>
  text.split('\n').find((l) => l.split(/\s+/)[0] === name || l.startsWith(`${name}:`));

/** The line of `name` in what real SGE printed for `command` (recorded in `file`). */
export const sgeLine = (file: string, command: string, name: string): string => line(sgeProbe(file, command).stdout.join('\n'), name)!;

/** `MMDDhhmm.SS` of a local time, for qsub -a. */
export function sgeDate(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getMonth() + 1)}${two(d.getDate())}${two(d.getHours())}${two(d.getMinutes())}.${two(d.getSeconds())}`;
}
