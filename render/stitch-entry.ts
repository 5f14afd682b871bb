import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RenderError } from './errors.js';

/**
 * How a worker runs the stitcher when `qfarm-stitch` is not on its PATH: this node with
 * dist/render/stitch-main.js, found next to this file (so the worker needs qfarm at the same
 * path, as on the embedded farm and in images built from the same tree).
 */
export function defaultStitchCommand(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const js = path.join(here, 'stitch-main.js');
  if (!existsSync(js)) {
    throw new RenderError(`the stitcher ${js} does not exist, so tiles could not be stitched`, "build qfarm first ('npm run build'), or install qfarm-stitch on the workers' PATH");
  }
  return [process.execPath, js];
}

/** The same for the thumbnailer render task scripts run (`qfarm-thumbnail` on PATH wins). */
export function defaultThumbnailCommand(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // Run from the .ts sources (tests), the built thumbnailer is under dist/.
  const js = [path.join(here, 'thumbnail-main.js'), path.join(here, '..', 'dist', 'render', 'thumbnail-main.js')].find((f) => existsSync(f));
  return [process.execPath, js ?? path.join(here, 'thumbnail-main.js')];
}
