import { readdirSync } from 'node:fs';
import path from 'node:path';
import { frameFileName } from '../../render/frame-names.js';
import { RUNTIME_OUTDIR, manifestTaskFrames, type RenderManifest } from '../../render/manifest.js';
import { TILES_DIR, tileDirName } from '../../render/output-layout.js';
import { ANY_EXTENSION } from '../../render/software.js';

/**
 * What a file:// render has actually written so far, read from its output directory by the CLI
 * (which runs as the user who owns it): finished frame files, and tile files under `tiles/`.
 * A chunk task writes its frames one by one long before accounting knows it has finished, so
 * this is the progress a person watches. oss:// outputs appear only once a task has uploaded:
 * there accounting is the truth and this answers null.
 */
export interface WrittenFiles {
  /** Frames whose file is in the output directory (stitched frames, for a tiled render). */
  frames: number[];
  /** Tile files written, over every frame and tile position. */
  tiles: number;
}

/** Names in `dir`, or none when it does not exist yet (no task has written there). */
function namesIn(dir: string): Set<string> {
  try {
    return new Set(readdirSync(dir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
    throw new Error(`cannot read the render output directory ${dir}: ${(err as Error).message}`);
  }
}

/** Whether the frame's file is among `names`: `frame_#####.*` takes any extension (the scene's format). */
function hasFrame(names: ReadonlySet<string>, pattern: string, frame: number): boolean {
  if (!pattern.endsWith(ANY_EXTENSION)) return names.has(path.basename(frameFileName(pattern, frame)));
  const stem = `${path.basename(frameFileName(pattern.slice(0, -ANY_EXTENSION.length), frame))}.`;
  for (const name of names) if (name.startsWith(stem) && !name.slice(stem.length).includes('.')) return true;
  return false;
}

export function writtenFiles(manifest: RenderManifest): WrittenFiles | null {
  if (manifest.pattern === null || manifest.outputDir === RUNTIME_OUTDIR || !manifest.output.startsWith('file://')) return null;
  const pattern = manifest.pattern;
  const frames = new Set<number>();
  manifest.tasks.forEach((_entry, i) => manifestTaskFrames(manifest, i + 1).forEach((f) => frames.add(f)));
  const top = namesIn(manifest.outputDir);
  const written = [...frames].filter((f) => hasFrame(top, pattern, f)).sort((a, b) => a - b);
  let tiles = 0;
  if (manifest.tilesX * manifest.tilesY > 1) {
    for (let x = 0; x < manifest.tilesX; x++) {
      for (let y = 0; y < manifest.tilesY; y++) {
        const names = namesIn(path.join(manifest.outputDir, TILES_DIR, tileDirName({ x, y })));
        // Tiles are multilayer EXR whatever the scene's format (blender-setup.ts).
        for (const f of frames) if (hasFrame(names, pattern, f)) tiles++;
      }
    }
  }
  return { frames: written, tiles };
}
