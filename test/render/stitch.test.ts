import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { StitchError } from '../../render/errors.js';
import { tileDirName } from '../../render/output-layout.js';
import { frameTiles } from '../../render/plan.js';
import { createImage, readPng, writePng, type Image } from '../../render/png.js';
import { stitchFrame, stitchTiles } from '../../render/stitch.js';
import { blenderBorderPixel, tilePixelRect } from '../../render/tile-pixels.js';

function noise(width: number, height: number, seed: number): Image {
  const image = createImage(width, height, 4);
  let s = seed;
  for (let i = 0; i < image.data.length; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    image.data[i] = s >>> 24;
  }
  return image;
}

/** Cuts a frame into the tiles Blender would write for its borders, cropped. */
function crop(frame: Image, tilesX: number, tilesY: number) {
  return frameTiles(tilesX, tilesY).map((tile) => {
    const r = tilePixelRect(tile, frame.width, frame.height);
    const image = createImage(r.width, r.height, 4);
    for (let row = 0; row < r.height; row++) {
      frame.data.copy(image.data, row * r.width * 4, ((r.top + row) * frame.width + r.left) * 4, ((r.top + row) * frame.width + r.left + r.width) * 4);
    }
    return { tile, image, source: `tile ${tile.x},${tile.y}` };
  });
}

t.test("border to pixels follows Blender's float math (measured with Blender 3.4)", async (t) => {
  // 0.7 as a C float times 180 is 126.00000x, truncated 126; in double it would be 125.99..., 125.
  t.equal(blenderBorderPixel(0.7, 180), 126);
  t.equal(Math.trunc(0.7 * 180), 125, 'the double computation really differs here');
  t.equal(blenderBorderPixel(1 / 3, 320), 106);
  t.equal(blenderBorderPixel(1, 317), 317);
  // 3x7 tiles of 317x179 as Blender 3.4 wrote them (cropped sizes).
  const widths = frameTiles(3, 1).map((x) => tilePixelRect(x, 317, 179).width);
  t.same(widths, [105, 106, 106]);
  t.same(frameTiles(1, 10).map((x) => tilePixelRect(x, 320, 180).height), [18, 18, 18, 18, 18, 18, 18, 18, 18, 18]);
});

t.test('tiles cover the frame exactly once at many sizes', async (t) => {
  for (const [w, h, nx, ny] of [[320, 180, 2, 2], [317, 179, 3, 7], [101, 37, 10, 6], [64, 64, 64, 64], [5, 3, 1, 3]] as const) {
    const count = new Uint8Array(w * h);
    for (const tile of frameTiles(nx, ny)) {
      const r = tilePixelRect(tile, w, h);
      for (let y = r.top; y < r.top + r.height; y++) for (let x = r.left; x < r.left + r.width; x++) count[y * w + x]!++;
    }
    t.ok(count.every((c) => c === 1), `${w}x${h} in ${nx}x${ny}`);
  }
});

t.test('stitching cropped tiles gives back the frame', async (t) => {
  for (const [w, h, nx, ny] of [[320, 180, 2, 2], [317, 179, 3, 7], [33, 20, 4, 1]] as const) {
    const frame = noise(w, h, w * h);
    const out = stitchTiles(1, crop(frame, nx, ny));
    t.same([out.width, out.height], [w, h]);
    t.ok(out.data.equals(frame.data), `${w}x${h} in ${nx}x${ny}`);
  }
});

t.test('a tile of the wrong size, or missing, is an error naming frame and tile', async (t) => {
  const frame = noise(40, 30, 3);
  const tiles = crop(frame, 2, 2);
  t.throws(() => stitchTiles(7, tiles.slice(1)), { message: /^frame 7: 3 tiles given for a 2x2 split/ });
  const wrong = tiles.map((x) => (x.tile.x === 1 && x.tile.y === 1 ? { ...x, image: noise(x.image.width - 1, x.image.height, 1) } : x));
  const err = t.throws(() => stitchTiles(7, wrong)) as StitchError;
  t.type(err, StitchError);
  t.equal(err.frame, 7);
});

t.test('stitchFrame reads tile files, writes the frame, names missing tiles', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qfarm-stitch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const frame = noise(50, 40, 9);
  const tileDir = path.join(dir, 'tiles');
  for (const placed of crop(frame, 3, 2)) {
    const d = path.join(tileDir, tileDirName(placed.tile));
    mkdirSync(d, { recursive: true });
    if (!(placed.tile.x === 2 && placed.tile.y === 1)) writePng(path.join(d, 'frame_0012.png'), placed.image);
  }
  const missing = t.throws(() => stitchFrame({ frame: 12, tilesX: 3, tilesY: 2, tileDir, pattern: 'frame_####.png', outputDir: dir })) as StitchError;
  t.match(missing.message, /^frame 12: 1 of 6 tiles missing: tile x2 y1 \(.*tile-x2-y1\/frame_0012.png\)/);
  writePng(path.join(tileDir, 'tile-x2-y1', 'frame_0012.png'), crop(frame, 3, 2)[5]!.image);
  const result = stitchFrame({ frame: 12, tilesX: 3, tilesY: 2, tileDir, pattern: 'frame_####.png', outputDir: dir });
  t.equal(result.file, path.join(dir, 'frame_0012.png'));
  t.ok(readPng(result.file).data.equals(frame.data));
  t.same(readdirSync(dir).filter((n) => n.includes('partial')), [], 'no partial file left behind');
});

t.test('qfarm-stitch arguments: bad ones are errors with usage, exit 1', async (t) => {
  const { stitchMain } = await import('../../render/stitch-main.js');
  const lines: string[] = [];
  const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
  t.equal(stitchMain(['--frame', 'x', '--tiles', '2x2', '--tile-dir', '/t', '--pattern', 'f_#.png', '--output-dir', '/o'], io), 1);
  t.match(lines.join('\n'), /--frame must be a whole number/);
  t.equal(stitchMain(['--frame', '1', '--tiles', '2by2'], io), 1);
  t.match(lines.join('\n'), /--tiles must look like 2x2/);
  t.equal(stitchMain(['--bogus'], io), 1);
  t.match(lines.join('\n'), /usage: qfarm-stitch/);
  const help: string[] = [];
  t.equal(stitchMain(['--help'], { out: (l) => help.push(l), err: (l) => help.push(`err: ${l}`) }), 0, '--help is not an error');
  t.match(help[0], /^usage: qfarm-stitch --frame N/);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'qfarm-stitch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal(stitchMain(['--frame', '4', '--tiles', '1x2', '--tile-dir', dir, '--pattern', 'f_#.png', '--output-dir', dir], io), 1);
  t.match(lines.join('\n'), /qfarm-stitch: frame 4: 2 of 2 tiles missing: tile x0 y0 .*hint: rerun the failed tile tasks/s);
});
