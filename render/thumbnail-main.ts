import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { thumbnailLine } from './thumbnail.js';

/**
 * `thumbnail-main.js FILE...`: prints a thumbnail line for each PNG frame (run by render task
 * scripts after the frames are checked). Never fails the task: a frame it cannot read is
 * reported on stderr and skipped; the frame itself was already verified.
 */
export function thumbnailMain(files: readonly string[], io: { out: (line: string) => void; err: (line: string) => void }): number {
  for (const file of files) {
    try {
      const line = thumbnailLine(file);
      if (line) io.out(line);
    } catch (err) {
      io.err(`qfarm render: no thumbnail for ${file}: ${(err as Error).message}`);
    }
  }
  return 0;
}

const entry = process.argv[1];
if (entry !== undefined && realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url))) {
  process.exitCode = thumbnailMain(process.argv.slice(2), { out: (l) => void process.stdout.write(`${l}\n`), err: (l) => void process.stderr.write(`${l}\n`) });
}
