/**
 * A minimal POSIX tar (pax) writer: how the root agent hands bytes it read itself (its own cache
 * entries, files it opened without following links) to a `tar -x` running as the task's user,
 * which then creates every file with the user's own rights. Only regular files are written;
 * directories are created by the extracting tar as it needs them.
 */
import type { Writable } from 'node:stream';
import { StorageError } from './errors.js';

const BLOCK = 512;

export class TarWriter {
  private closed = false;

  constructor(private readonly out: Writable) {}

  /**
   * Appends one regular file. `content` must yield exactly `size` bytes: the header is written
   * first, so a source that changed size makes the archive unusable and this rejects.
   */
  async addFile(relPath: string, size: number, mode: number, content: AsyncIterable<Buffer>): Promise<void> {
    if (this.closed) throw new StorageError(`tar stream already finished; cannot add ${relPath}`);
    if (relPath === '' || relPath.startsWith('/') || relPath.split('/').includes('..')) {
      throw new StorageError(`refusing to put "${relPath}" in a tar stream: it must be relative and without ".."`);
    }
    await this.write(entryHeaders(relPath, size, mode));
    let written = 0;
    for await (const chunk of content) {
      written += chunk.length;
      if (written > size) throw new StorageError(`${relPath} grew beyond its ${size} bytes while being copied`);
      await this.write(chunk);
    }
    if (written !== size) throw new StorageError(`${relPath} shrank to ${written} of its ${size} bytes while being copied`);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad > 0) await this.write(Buffer.alloc(pad));
  }

  /** Writes the end-of-archive marker and ends the stream. */
  async finish(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.write(Buffer.alloc(2 * BLOCK));
    await new Promise<void>((resolve, reject) => {
      this.out.once('error', reject);
      this.out.end(() => resolve());
    });
  }

  private write(data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.out.destroyed || this.out.writableEnded) {
        reject(new StorageError('the extracting process stopped reading (it exited early; see its error)'));
        return;
      }
      const onError = (err: Error): void => reject(err);
      this.out.once('error', onError);
      const flushed = this.out.write(data, (err) => {
        this.out.off('error', onError);
        if (err) reject(err);
        else if (flushed) resolve();
      });
      if (!flushed) this.out.once('drain', () => resolve());
    });
  }
}

/** A ustar header, preceded by a pax header for a path beyond ustar's 100 ASCII bytes or a size beyond 8 GiB. */
function entryHeaders(relPath: string, size: number, mode: number): Buffer {
  const records: Buffer[] = [];
  if (!/^[\x20-\x7e]*$/.test(relPath) || Buffer.byteLength(relPath) > 100) records.push(paxRecord('path', relPath));
  const bigFile = size >= 8 ** 11;
  if (bigFile) records.push(paxRecord('size', String(size)));
  if (records.length === 0) return header(relPath, size, mode, '0');
  const body = Buffer.concat(records);
  const pax = Buffer.concat([header('././@PaxHeader', body.length, 0o644, 'x'), body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK)]);
  const shortName = Buffer.from(relPath).subarray(0, 99).toString('latin1').replace(/[^\x20-\x7e]/g, '_');
  return Buffer.concat([pax, header(shortName, bigFile ? 0 : size, mode, '0')]);
}

/** "<len> key=value\n", where len counts the whole record including its own digits. */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + String(bodyLen).length;
  if (String(len).length + bodyLen !== len) len = bodyLen + String(len).length;
  return Buffer.from(`${len}${body}`);
}

function header(name: string, size: number, mode: number, type: '0' | 'x'): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'latin1');
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0); // uid and gid: the extracting tar (not root) owns what it creates
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, Math.floor(Date.now() / 1000));
  h.write('        ', 148, 8, 'latin1'); // checksum field counts as spaces while summing
  h.write(type, 156, 1, 'latin1');
  h.write('ustar\u000000', 257, 8, 'latin1');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 8, 'latin1');
  return h;
}

function octal(h: Buffer, offset: number, width: number, value: number): void {
  const text = value.toString(8);
  if (text.length > width - 1) throw new StorageError(`value ${value} does not fit a ${width}-byte tar header field`);
  h.write(text.padStart(width - 1, '0') + '\u0000', offset, width, 'latin1');
}
