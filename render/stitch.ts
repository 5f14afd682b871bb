import { existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { StitchError } from './errors.js';
import { frameFileName } from './frame-names.js';
import { tileDirName } from './output-layout.js';
import { frameTiles, type TileSpec } from './plan.js';
import { createImage, readPng, writePng, type Image } from './png.js';
import { tilePixelRect } from './tile-pixels.js';

/**
 * Tiles back into frames. Each tile is a border render cropped to its rectangle; the frame's
 * size follows from the tiles themselves (the bottom row's widths and the left column's heights
 * add up to it), then every tile must have exactly the size Blender gives its border at that
 * frame size, so a tile from another resolution or a wrong split is an error, not a smear.
 */

export interface PlacedTile {
  tile: TileSpec;
  image: Image;
  /** Where it came from, for messages. */
  source: string;
}

function tileName(tile: TileSpec): string {
  return `tile x${tile.x} y${tile.y}`;
}

export function stitchTiles(frame: number, tiles: readonly PlacedTile[]): Image {
  const first = tiles[0];
  if (first === undefined) throw new StitchError(frame, 'no tiles to stitch');
  const { tilesX, tilesY } = first.tile;
  if (tiles.length !== tilesX * tilesY) throw new StitchError(frame, `${tiles.length} tiles given for a ${tilesX}x${tilesY} split`);
  const at = (x: number, y: number): PlacedTile => {
    const found = tiles.find((t) => t.tile.x === x && t.tile.y === y);
    if (found === undefined) throw new StitchError(frame, `${tileName({ ...first.tile, x, y })} is missing`);
    return found;
  };
  let width = 0;
  for (let x = 0; x < tilesX; x++) width += at(x, 0).image.width;
  let height = 0;
  for (let y = 0; y < tilesY; y++) height += at(0, y).image.height;
  const channels = first.image.channels;
  const out = createImage(width, height, channels);
  for (const placed of tiles) {
    const rect = tilePixelRect(placed.tile, width, height);
    const { image } = placed;
    if (image.width !== rect.width || image.height !== rect.height) {
      throw new StitchError(
        frame,
        `${tileName(placed.tile)} (${placed.source}) is ${image.width}x${image.height} pixels, but its border in a ${width}x${height} frame is ${rect.width}x${rect.height}`,
        'were all tiles rendered from the same scene and resolution, cropped to border?',
      );
    }
    if (image.channels !== channels) {
      throw new StitchError(frame, `${tileName(placed.tile)} (${placed.source}) has ${image.channels} channels, other tiles ${channels}`);
    }
    const rowBytes = rect.width * channels;
    for (let row = 0; row < rect.height; row++) {
      image.data.copy(out.data, ((rect.top + row) * width + rect.left) * channels, row * rowBytes, (row + 1) * rowBytes);
    }
  }
  return out;
}

export interface StitchFrameOptions {
  frame: number;
  tilesX: number;
  tilesY: number;
  /** Directory holding one `tile-xX-yY` directory per tile position. */
  tileDir: string;
  /** Frame file name pattern (`frame_#####.png`), the same for tiles and the stitched frame. */
  pattern: string;
  outputDir: string;
}

export interface StitchResult {
  file: string;
  width: number;
  height: number;
  tiles: number;
}

/** Reads every tile of one frame, checks they are all there, writes the whole frame. */
export function stitchFrame(options: StitchFrameOptions): StitchResult {
  const { frame } = options;
  const name = frameFileName(options.pattern, frame);
  const specs = frameTiles(options.tilesX, options.tilesY);
  const files = specs.map((tile) => ({ tile, file: path.join(options.tileDir, tileDirName(tile), name) }));
  const missing = files.filter((f) => !existsSync(f.file));
  if (missing.length > 0) {
    throw new StitchError(
      frame,
      `${missing.length} of ${specs.length} tiles missing: ${missing.map((m) => `${tileName(m.tile)} (${m.file})`).join(', ')}`,
      'rerun the failed tile tasks of the render job (qfarm render status JOB lists them), then this stitch task',
    );
  }
  const tiles = files.map(({ tile, file }) => ({ tile, image: readPng(file), source: file }));
  const image = stitchTiles(frame, tiles);
  const file = path.join(options.outputDir, name);
  // Write then rename: a reader never sees half a frame, and a rerun replaces it whole.
  const partial = `${file}.partial-${process.pid}`;
  writePng(partial, image);
  renameSync(partial, file);
  return { file, width: image.width, height: image.height, tiles: tiles.length };
}
