import path from 'node:path';
import { frameFileName } from './frame-names.js';
import type { TileSpec } from './plan.js';

/**
 * Where each task writes, under the job's output directory. Whole frames go straight into it
 * (names are unique per frame); each tile position gets its own directory under `tiles/`, with
 * the frame names the renderer uses, and the stitch task writes the frame into the output
 * directory itself, so users get frames, not tiles.
 */
export const TILES_DIR = 'tiles';

export function tileDirName(tile: Pick<TileSpec, 'x' | 'y'>): string {
  return `tile-x${tile.x}-y${tile.y}`;
}

export function taskOutdir(outputDir: string, tile: TileSpec | null): string {
  return tile === null ? outputDir : path.join(outputDir, TILES_DIR, tileDirName(tile));
}

/** The same relative to the job's output location (`''` for whole frames): the oss:// layout. */
export function taskOutdirRelative(tile: TileSpec | null): string {
  return tile === null ? '' : `${TILES_DIR}/${tileDirName(tile)}`;
}

/** Files a task must leave behind: one per frame, named by the software's output pattern. */
export function expectedOutputs(outdir: string, pattern: string, frames: readonly number[]): string[] {
  return frames.map((frame) => path.join(outdir, frameFileName(pattern, frame)));
}
