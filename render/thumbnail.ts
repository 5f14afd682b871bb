import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createImage, decodePng, encodePng, type Image } from './png.js';

/**
 * Frame thumbnails for the dashboard's frame grid. A render task writes one line per finished
 * frame to its stdout, `qfarm-thumbnail <file name> <base64 PNG>`: the output streams to
 * the master with the rest of the log, so thumbnails exist for `file://` and `oss://` outputs
 * alike and the master never opens a user's file (it reads its own log store). Blender prints
 * the lines itself for every format (blender-thumbnail.ts); this module makes them from the PNG
 * frames of other renderers and of qfarm-stitch.
 */
export const THUMBNAIL_PREFIX = 'qfarm-thumbnail ';
export const THUMBNAIL_WIDTH = 160;
/** A thumbnail larger than this (encoded) is not printed: the log is no place for images. */
export const MAX_THUMBNAIL_BYTES = 48 * 1024;

/** Box-filter downscale to at most `width` pixels wide, keeping the aspect ratio and channels. */
export function downscale(image: Image, width = THUMBNAIL_WIDTH): Image {
  if (image.width <= width) return image;
  const w = width;
  const h = Math.max(1, Math.round((image.height * w) / image.width));
  const out = createImage(w, h, image.channels);
  const c = image.channels;
  for (let y = 0; y < h; y++) {
    const y0 = Math.floor((y * image.height) / h);
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * image.height) / h));
    for (let x = 0; x < w; x++) {
      const x0 = Math.floor((x * image.width) / w);
      const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * image.width) / w));
      for (let k = 0; k < c; k++) {
        let sum = 0;
        for (let sy = y0; sy < y1; sy++) for (let sx = x0; sx < x1; sx++) sum += image.data[(sy * image.width + sx) * c + k]!;
        out.data[(y * w + x) * c + k] = Math.round(sum / ((y1 - y0) * (x1 - x0)));
      }
    }
  }
  return out;
}

/** The stdout line for one frame file, or undefined when it is no PNG this codec reads or too big. */
export function thumbnailLine(file: string): string | undefined {
  if (!file.toLowerCase().endsWith('.png')) return undefined;
  const png = encodePng(downscale(decodePng(readFileSync(file), file)), { filter: 'adaptive', level: 9 });
  if (png.length > MAX_THUMBNAIL_BYTES) return undefined;
  return `${THUMBNAIL_PREFIX}${path.basename(file)} ${png.toString('base64')}`;
}

/** Thumbnails found in a task's output, by frame file name (the last one of a name wins). */
export function parseThumbnails(log: string): Map<string, Buffer> {
  const found = new Map<string, Buffer>();
  for (const line of log.split('\n')) {
    if (!line.startsWith(THUMBNAIL_PREFIX)) continue;
    const [name, data] = line.slice(THUMBNAIL_PREFIX.length).trim().split(' ');
    if (!name || !data || data.length > (MAX_THUMBNAIL_BYTES * 4) / 3 + 4) continue;
    const png = Buffer.from(data, 'base64');
    // Only a PNG is ever served as one: the log is the user's, so check what it claims to be.
    if (png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) found.set(name, png);
  }
  return found;
}
