import type { TileSpec } from './plan.js';

/**
 * Blender's border → pixels, exactly as its render pipeline computes them
 * (`disprect.xmin = rd->border.xmin * winx;` in render_init_from_main): the border is a C
 * float, multiplied by the int size in float arithmetic, then truncated to int. y counts from
 * the bottom. Math.fround reproduces the float rounding, so 1/3 of 180 is 60, not 59.
 */
export function blenderBorderPixel(fraction: number, size: number): number {
  return Math.trunc(Math.fround(Math.fround(fraction) * size));
}

/** A rectangle in image pixels, origin at the top-left as stored in a PNG. */
export interface PixelRect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Where a cropped tile's pixels belong in the full frame. */
export function tilePixelRect(tile: Pick<TileSpec, 'minX' | 'maxX' | 'minY' | 'maxY'>, width: number, height: number): PixelRect {
  const xmin = blenderBorderPixel(tile.minX, width);
  const xmax = blenderBorderPixel(tile.maxX, width);
  const ymin = blenderBorderPixel(tile.minY, height);
  const ymax = blenderBorderPixel(tile.maxY, height);
  return { left: xmin, top: height - ymax, width: xmax - xmin, height: ymax - ymin };
}
