import { readFileSync, writeFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { PngError } from './errors.js';

/**
 * A minimal PNG codec on node:zlib, enough for render tiles: 8-bit greyscale, grey+alpha, RGB
 * and RGBA, non-interlaced; all five row filters on decode (and on encode, to test them).
 * Pixels are kept as they are stored: rows top to bottom, `channels` bytes per pixel.
 */

export interface Image {
  width: number;
  height: number;
  /** 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA. */
  channels: 1 | 2 | 3 | 4;
  data: Buffer;
}

export const PngFilter = { None: 0, Sub: 1, Up: 2, Average: 3, Paeth: 4 } as const;
export type PngFilter = (typeof PngFilter)[keyof typeof PngFilter];

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const CHANNELS_OF_COLOR_TYPE: Record<number, Image['channels']> = { 0: 1, 4: 2, 2: 3, 6: 4 };
const COLOR_TYPE_OF_CHANNELS: Record<Image['channels'], number> = { 1: 0, 2: 4, 3: 2, 4: 6 };

export function createImage(width: number, height: number, channels: Image['channels']): Image {
  return { width, height, channels, data: Buffer.alloc(width * height * channels) };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

export function decodePng(bytes: Buffer, name = 'PNG'): Image {
  if (bytes.length < 8 || !bytes.subarray(0, 8).equals(SIGNATURE)) throw new PngError(name, 'not a PNG file (bad signature)');
  let at = 8;
  let header: { width: number; height: number; channels: Image['channels'] } | null = null;
  const idat: Buffer[] = [];
  let ended = false;
  while (at + 12 <= bytes.length) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    if (at + 12 + length > bytes.length) throw new PngError(name, `chunk ${type} runs past the end of the file (truncated?)`);
    const body = bytes.subarray(at + 8, at + 8 + length);
    const crc = bytes.readUInt32BE(at + 8 + length);
    if (zlib.crc32(bytes.subarray(at + 4, at + 8 + length)) !== crc) throw new PngError(name, `chunk ${type} has a bad CRC (corrupt file)`);
    at += 12 + length;
    if (type === 'IHDR') {
      const width = body.readUInt32BE(0);
      const height = body.readUInt32BE(4);
      const [depth, colorType, compression, filter, interlace] = [body[8]!, body[9]!, body[10]!, body[11]!, body[12]!];
      const channels = CHANNELS_OF_COLOR_TYPE[colorType];
      if (channels === undefined) throw new PngError(name, `colour type ${colorType} is not supported (only grey, grey+alpha, RGB, RGBA)`);
      if (depth !== 8) throw new PngError(name, `bit depth ${depth} is not supported (only 8 bits per channel; render with color_depth '8')`);
      if (compression !== 0 || filter !== 0) throw new PngError(name, 'unknown compression or filter method');
      if (interlace !== 0) throw new PngError(name, 'interlaced PNGs are not supported');
      if (width === 0 || height === 0) throw new PngError(name, 'image has no pixels');
      header = { width, height, channels };
    } else if (type === 'IDAT') {
      idat.push(body);
    } else if (type === 'IEND') {
      ended = true;
      break;
    }
  }
  if (header === null) throw new PngError(name, 'no IHDR chunk');
  if (!ended) throw new PngError(name, 'no IEND chunk (truncated file?)');
  let raw: Buffer;
  try {
    raw = zlib.inflateSync(Buffer.concat(idat));
  } catch (err) {
    throw new PngError(name, `image data does not inflate: ${(err as Error).message}`);
  }
  const { width, height, channels } = header;
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new PngError(name, `image data is short: ${raw.length} bytes for ${width}x${height}x${channels}`);
  const data = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let i = 0; i < stride; i++) {
      const x = raw[src + i]!;
      const a = i >= channels ? data[row + i - channels]! : 0;
      const b = y > 0 ? data[prev + i]! : 0;
      const c = i >= channels && y > 0 ? data[prev + i - channels]! : 0;
      let v: number;
      switch (filter) {
        case 0: v = x; break;
        case 1: v = x + a; break;
        case 2: v = x + b; break;
        case 3: v = x + ((a + b) >> 1); break;
        case 4: v = x + paeth(a, b, c); break;
        default: throw new PngError(name, `row ${y} has unknown filter type ${filter}`);
      }
      data[row + i] = v & 0xff;
    }
  }
  return { width, height, channels, data };
}

function filterRow(image: Image, y: number, filter: PngFilter, out: Buffer, at: number): void {
  const { channels, data } = image;
  const stride = image.width * channels;
  const row = y * stride;
  const prev = row - stride;
  out[at] = filter;
  for (let i = 0; i < stride; i++) {
    const x = data[row + i]!;
    const a = i >= channels ? data[row + i - channels]! : 0;
    const b = y > 0 ? data[prev + i]! : 0;
    const c = i >= channels && y > 0 ? data[prev + i - channels]! : 0;
    const predictor = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : paeth(a, b, c);
    out[at + 1 + i] = (x - predictor) & 0xff;
  }
}

function chunk(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), body])), 0);
  return Buffer.concat([head, body, crc]);
}

/**
 * Encodes an image. `filter` fixes one filter for every row, or `adaptive` picks per row the
 * filter with the smallest sum of absolute differences (libpng's heuristic).
 */
export function encodePng(image: Image, options: { filter?: PngFilter | 'adaptive' | ((row: number) => PngFilter); level?: number } = {}): Buffer {
  const { width, height, channels } = image;
  if (image.data.length !== width * height * channels) throw new PngError('image', `pixel buffer has ${image.data.length} bytes, expected ${width * height * channels}`);
  const stride = width * channels;
  const raw = Buffer.alloc(height * (stride + 1));
  const choice = options.filter ?? 'adaptive';
  const scratch = Buffer.alloc(stride + 1);
  for (let y = 0; y < height; y++) {
    const at = y * (stride + 1);
    if (choice === 'adaptive') {
      let best = Infinity;
      for (const f of [0, 1, 2, 3, 4] as const) {
        filterRow(image, y, f, scratch, 0);
        let sum = 0;
        for (let i = 1; i <= stride; i++) sum += scratch[i]! < 128 ? scratch[i]! : 256 - scratch[i]!;
        if (sum < best) {
          best = sum;
          scratch.copy(raw, at);
        }
      }
    } else {
      filterRow(image, y, typeof choice === 'function' ? choice(y) : choice, raw, at);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = COLOR_TYPE_OF_CHANNELS[channels];
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw, { level: options.level ?? 6 })), chunk('IEND', Buffer.alloc(0))]);
}

export function readPng(file: string): Image {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new PngError(file, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return decodePng(bytes, file);
}

export function writePng(file: string, image: Image): void {
  writeFileSync(file, encodePng(image));
}
