import zlib from 'node:zlib';
import t from 'tap';
import { PngError } from '../../render/errors.js';
import { createImage, decodePng, encodePng, PngFilter, type Image } from '../../render/png.js';

/** A deterministic image with gradients and noise, so every filter has something to predict. */
function testImage(width: number, height: number, channels: Image['channels']): Image {
  const image = createImage(width, height, channels);
  let seed = 12345;
  for (let i = 0; i < image.data.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const x = Math.floor(i / channels) % width;
    const y = Math.floor(i / channels / width);
    image.data[i] = (x * 7 + y * 3 + (i % channels) * 50 + (seed >>> 28)) & 0xff;
  }
  return image;
}

t.test('roundtrip every channel count with every filter', async (t) => {
  for (const channels of [1, 2, 3, 4] as const) {
    const image = testImage(37, 23, channels);
    for (const filter of [...Object.values(PngFilter), 'adaptive' as const]) {
      const back = decodePng(encodePng(image, { filter }));
      t.same([back.width, back.height, back.channels], [37, 23, channels]);
      t.ok(back.data.equals(image.data), `channels ${channels}, filter ${filter}`);
    }
  }
});

t.test('rows with mixed filters decode (each row names its own filter)', async (t) => {
  const image = testImage(64, 40, 4);
  const png = encodePng(image, { filter: (row) => (row % 5) as PngFilter });
  t.ok(decodePng(png).data.equals(image.data));
});

t.test('a 1x1 image and a single-column image', async (t) => {
  for (const [w, h] of [[1, 1], [1, 9], [9, 1]] as const) {
    const image = testImage(w, h, 3);
    t.ok(decodePng(encodePng(image, { filter: PngFilter.Paeth })).data.equals(image.data), `${w}x${h}`);
  }
});

t.test('the IDAT may be split over several chunks', async (t) => {
  const image = testImage(20, 20, 3);
  const png = encodePng(image, { filter: PngFilter.Up });
  // Re-chunk: split the one IDAT body into three IDAT chunks.
  const idatAt = png.indexOf(Buffer.from('IDAT')) - 4;
  const length = png.readUInt32BE(idatAt);
  const body = png.subarray(idatAt + 8, idatAt + 8 + length);
  const mk = (type: string, data: Buffer): Buffer => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const third = Math.floor(length / 3);
  const split = Buffer.concat([
    png.subarray(0, idatAt),
    mk('IDAT', body.subarray(0, third)),
    mk('IDAT', body.subarray(third, 2 * third)),
    mk('IDAT', body.subarray(2 * third)),
    png.subarray(idatAt + 12 + length),
  ]);
  t.ok(decodePng(split).data.equals(image.data));
});

t.test('broken files are precise errors', async (t) => {
  const png = encodePng(testImage(8, 8, 4));
  t.throws(() => decodePng(Buffer.from('not a png at all'), 'x.png'), { message: /x.png: not a PNG file/ });
  const corrupt = Buffer.from(png);
  corrupt[40] = corrupt[40]! ^ 0xff;
  t.throws(() => decodePng(corrupt, 'c.png'), PngError);
  t.throws(() => decodePng(png.subarray(0, png.length - 12), 't.png'), { message: /no IEND/ });
  const sixteen = Buffer.from(png);
  sixteen[24] = 16; // IHDR bit depth
  const crc = zlib.crc32(sixteen.subarray(12, 29));
  sixteen.writeUInt32BE(crc, 29);
  t.throws(() => decodePng(sixteen, 's.png'), { message: /bit depth 16 is not supported/ });
});
