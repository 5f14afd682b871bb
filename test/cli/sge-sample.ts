import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Reads the transcript of real Son of Grid Engine 8.1.9 (test/cli/fixtures/sge-cli.txt, a copy
 * of shared/peers/samples/sge-cli.txt with its trailing blanks): `sgeOutput('qstat -j 6', 1)`
 * is the exact output of that command, from the line after `$ qstat -j 6...` up to the next
 * `$ ` line or `(exit N)` marker.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const lines = readFileSync(path.join(here, 'fixtures', 'sge-cli.txt'), 'utf8').split('\n');

export function sgeOutput(command: string, occurrence = 1): string {
  let seen = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.startsWith(`$ ${command}`)) continue;
    const rest = line.slice(2 + command.length);
    if (rest.trim() !== '' && !rest.trim().startsWith('(')) continue;
    if (++seen < occurrence) continue;
    const out: string[] = [];
    for (let j = i + 1; j < lines.length && !lines[j]!.startsWith('$ ') && !/^\(exit \d+\)$/.test(lines[j]!); j++) out.push(lines[j]!);
    while (out.length > 0 && out[out.length - 1] === '') out.pop();
    return out.length === 0 ? '' : `${out.join('\n')}\n`;
  }
  throw new Error(`command "${command}" (occurrence ${occurrence}) is not in the SGE sample`);
}
