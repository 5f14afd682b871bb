#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { RenderError } from './errors.js';
import { stitchFrame } from './stitch.js';

/**
 * `qfarm-stitch`: the stitch task of a tiled render job, run on a worker.
 *   qfarm-stitch --frame N --tiles NXxNY --tile-dir DIR --pattern 'frame_#####.png' --output-dir DIR
 * Exit 0 and one line on stdout when the frame is written; 1 and the reason on stderr when not.
 */
const USAGE = "usage: qfarm-stitch --frame N --tiles NXxNY --tile-dir DIR --pattern 'frame_#####.png' --output-dir DIR";

function fail(message: string, hint?: string): never {
  process.stderr.write(`qfarm-stitch: ${message}\n`);
  if (hint) process.stderr.write(`hint: ${hint}\n`);
  process.exit(1);
}

function main(): void {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        frame: { type: 'string' },
        tiles: { type: 'string' },
        'tile-dir': { type: 'string' },
        pattern: { type: 'string' },
        'output-dir': { type: 'string' },
      },
      strict: true,
    }) as { values: Record<string, string | undefined> });
  } catch (err) {
    fail((err as Error).message, USAGE);
  }
  const frame = Number(values.frame);
  const tiles = /^(\d+)x(\d+)$/.exec(values.tiles ?? '');
  if (!Number.isSafeInteger(frame) || values.frame === undefined || values.frame.trim() === '') fail(`--frame must be a whole number, not ${JSON.stringify(values.frame)}`, USAGE);
  if (tiles === null) fail(`--tiles must look like 2x2, not ${JSON.stringify(values.tiles)}`, USAGE);
  const tileDir = values['tile-dir'];
  const pattern = values.pattern;
  const outputDir = values['output-dir'];
  if (!tileDir || !pattern || !outputDir) fail('--tile-dir, --pattern and --output-dir are required', USAGE);
  try {
    const result = stitchFrame({ frame, tilesX: Number(tiles[1]), tilesY: Number(tiles[2]), tileDir, pattern, outputDir });
    process.stdout.write(`qfarm-stitch: frame ${frame}: ${result.tiles} tiles -> ${result.file} (${result.width}x${result.height})\n`);
  } catch (err) {
    if (err instanceof RenderError) fail(err.message, err.hint);
    throw err;
  }
}

main();
