#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { thumbnailLine } from './thumbnail.js';
import { RenderError } from './errors.js';
import { stitchFrame } from './stitch.js';

/**
 * `qfarm-stitch` (also `qfarm render stitch`): the stitch task of a tiled render job.
 *   qfarm-stitch --frame N --tiles NXxNY --tile-dir DIR --pattern 'frame_#####.png' --output-dir DIR
 * Exit 0 and one line on stdout when the frame is written; 1 and the reason on stderr when not.
 */
export const STITCH_USAGE = "usage: qfarm-stitch --frame N --tiles NXxNY --tile-dir DIR --pattern 'frame_#####.png' --output-dir DIR";

export interface StitchIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Runs the stitcher on command-line arguments; returns the exit status. */
export function stitchMain(argv: readonly string[], io: StitchIo): number {
  const fail = (message: string, hint?: string): number => {
    io.err(`qfarm-stitch: ${message}`);
    if (hint) io.err(`hint: ${hint}`);
    return 1;
  };
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(STITCH_USAGE);
    io.out('Joins the tiles of one rendered frame into the frame (render jobs run it once the frame\'s tiles are done).');
    return 0;
  }
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
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
    return fail((err as Error).message, STITCH_USAGE);
  }
  const frame = Number(values.frame);
  const tiles = /^(\d+)x(\d+)$/.exec(values.tiles ?? '');
  if (values.frame === undefined || values.frame.trim() === '' || !Number.isSafeInteger(frame)) return fail(`--frame must be a whole number, not ${JSON.stringify(values.frame)}`, STITCH_USAGE);
  if (tiles === null) return fail(`--tiles must look like 2x2, not ${JSON.stringify(values.tiles)}`, STITCH_USAGE);
  const tileDir = values['tile-dir'];
  const pattern = values.pattern;
  const outputDir = values['output-dir'];
  if (!tileDir || !pattern || !outputDir) return fail('--tile-dir, --pattern and --output-dir are required', STITCH_USAGE);
  try {
    const result = stitchFrame({ frame, tilesX: Number(tiles[1]), tilesY: Number(tiles[2]), tileDir, pattern, outputDir });
    io.out(`qfarm-stitch: frame ${frame}: ${result.tiles} tiles -> ${result.file} (${result.width}x${result.height})`);
    printThumbnail(result.file, io);
    return 0;
  } catch (err) {
    if (err instanceof RenderError) return fail(err.message, err.hint);
    throw err;
  }
}

/** The stitched frame's thumbnail for the dashboard (render/thumbnail.ts); a failure only warns. */
function printThumbnail(file: string, io: StitchIo): void {
  try {
    const line = thumbnailLine(file);
    if (line) io.out(line);
  } catch (err) {
    io.err(`qfarm-stitch: no thumbnail for ${file}: ${(err as Error).message}`);
  }
}

/** True when this file is the process's entry point (directly or through a bin symlink). */
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.exitCode = stitchMain(process.argv.slice(2), {
    out: (line) => void process.stdout.write(`${line}\n`),
    err: (line) => void process.stderr.write(`${line}\n`),
  });
}
