import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';

/**
 * The pixels of a PNG or OpenEXR file as bytes, without the metadata Blender stamps into files
 * (date, render time), so two renders compare equal exactly when their pixels are equal.
 * Blender's writers are deterministic, so equal pixels give equal filtered/predicted data: no
 * need to undo PNG filters or EXR predictors to compare.
 */

export interface PixelData {
  /** PNG: width, height, bit depth, colour type. EXR: its channel names and types. */
  format: string;
  pixels: Buffer;
}

export function pngPixelData(file: string): PixelData {
  const bytes = readFileSync(file);
  if (!bytes.subarray(0, 8).equals(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]))) throw new Error(`${file} is not a PNG`);
  let format = '';
  const idat: Buffer[] = [];
  for (let at = 8; at < bytes.length; ) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') format = `PNG ${data.readUInt32BE(0)}x${data.readUInt32BE(4)} depth ${data[8]} colour type ${data[9]}`;
    if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  return { format, pixels: inflateSync(Buffer.concat(idat)) };
}

const EXR_COMPRESSION = ['none', 'rle', 'zips', 'zip', 'piz', 'pxr24', 'b44', 'b44a', 'dwaa', 'dwab'];

/** Single-part scanline EXR, uncompressed or zlib (ZIP/ZIPS), as Blender writes with those codecs. */
export function exrPixelData(file: string): PixelData {
  const bytes = readFileSync(file);
  if (bytes.readUInt32LE(0) !== 20000630) throw new Error(`${file} is not an OpenEXR file`);
  let at = 8;
  const cstring = (): string => {
    const end = bytes.indexOf(0, at);
    const text = bytes.toString('latin1', at, end);
    at = end + 1;
    return text;
  };
  const attributes = new Map<string, Buffer>();
  for (;;) {
    const name = cstring();
    if (name === '') break;
    cstring();
    const size = bytes.readInt32LE(at);
    attributes.set(name, bytes.subarray(at + 4, at + 4 + size));
    at += 4 + size;
  }
  const channels: string[] = [];
  const list = attributes.get('channels')!;
  for (let p = 0; list[p] !== 0; ) {
    const end = list.indexOf(0, p);
    channels.push(`${list.toString('latin1', p, end)}:${['uint', 'half', 'float'][list.readInt32LE(end + 1)]}`);
    p = end + 1 + 16;
  }
  const compression = EXR_COMPRESSION[attributes.get('compression')![0]!]!;
  if (!['none', 'zip', 'zips'].includes(compression)) throw new Error(`${file}: EXR compression ${compression} is not read by this test helper`);
  const window = attributes.get('dataWindow')!;
  const height = window.readInt32LE(12) - window.readInt32LE(4) + 1;
  const linesPerChunk = compression === 'zip' ? 16 : 1;
  const chunks = Math.ceil(height / linesPerChunk);
  const pixels: Buffer[] = [];
  for (let i = 0; i < chunks; i++) {
    const offset = Number(bytes.readBigUInt64LE(at + i * 8));
    const size = bytes.readInt32LE(offset + 4);
    const data = bytes.subarray(offset + 8, offset + 8 + size);
    pixels.push(compression === 'none' ? data : inflateOrRaw(data));
  }
  return { format: `EXR ${compression} ${channels.join(' ')}`, pixels: Buffer.concat(pixels) };
}

/** EXR stores a chunk raw when compressing would not make it smaller. */
function inflateOrRaw(data: Buffer): Buffer {
  try {
    return inflateSync(data);
  } catch {
    return data;
  }
}

export function pixelData(file: string): PixelData {
  return file.endsWith('.exr') ? exrPixelData(file) : pngPixelData(file);
}
