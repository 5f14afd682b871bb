import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * How a worker runs the stitcher when `qfarm-stitch` is not on its PATH: this node with
 * dist/render/stitch-main.js, found next to this file. Run from source (the tests), the .ts
 * file with this process's own TypeScript loader flags.
 */
export function defaultStitchCommand(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const js = path.join(here, 'stitch-main.js');
  if (existsSync(js)) return [process.execPath, js];
  return [process.execPath, ...process.execArgv, path.join(here, 'stitch-main.ts')];
}
