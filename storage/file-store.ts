/**
 * `file://` adapter: the local file system stands in for a bucket (the embedded default).
 * Keys are absolute paths without the leading slash, so `file:///data/in/a.png` is key
 * `data/in/a.png`. Writes are atomic (temp file in the same directory + rename), so a reader
 * never sees half an object. The CRC-64 is computed while writing and memoised by
 * (inode, size, mtime); `head` returns it when known, `checksum()` computes it on demand.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { Crc64 } from './crc64.js';
import { ObjectNotFoundError, StorageError } from './errors.js';
import {
  formatStorageUrl,
  StorageScheme,
  type ListOptions,
  type ObjectMeta,
  type ObjectStore,
  type PutOptions,
} from './object-store.js';

const TEMP_MARK = '.qfarm-tmp-';

export class FileStore implements ObjectStore {
  readonly scheme = StorageScheme.File;
  readonly bucket = '/';
  /** crc64 by `${ino}:${size}:${mtimeMs}`; bounded so a long-lived agent does not grow forever. */
  private readonly crcMemo = new Map<string, string>();

  urlFor(key: string): string {
    return formatStorageUrl(this.scheme, this.bucket, key);
  }

  private pathOf(key: string): string {
    if (key.split('/').includes('..')) throw new StorageError(`refusing key with "..": ${key}`);
    return '/' + key.replace(/^\/+/, '');
  }

  private meta(key: string, st: Stats): ObjectMeta {
    const memoKey = `${st.ino}:${st.size}:${st.mtimeMs}`;
    const crc = this.crcMemo.get(memoKey);
    const m: ObjectMeta = {
      key,
      size: st.size,
      etag: `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.floor(st.mtimeMs * 1000).toString(16)}"`,
      lastModified: st.mtime,
    };
    if (crc !== undefined) m.crc64 = crc;
    return m;
  }

  private remember(st: Stats, crc: string): void {
    if (this.crcMemo.size > 50_000) this.crcMemo.clear();
    this.crcMemo.set(`${st.ino}:${st.size}:${st.mtimeMs}`, crc);
  }

  async *list(prefix: string, _opts: ListOptions = {}): AsyncIterable<ObjectMeta> {
    // Walk from the deepest directory the prefix names, then filter by the remainder.
    const cut = prefix.lastIndexOf('/');
    const dirKey = cut < 0 ? '' : prefix.slice(0, cut + 1);
    yield* this.walk(dirKey, prefix);
  }

  private async *walk(dirKey: string, prefix: string): AsyncIterable<ObjectMeta> {
    let entries;
    try {
      entries = await readdir(this.pathOf(dirKey), { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw err;
    }
    // Sort so listings come in key order like OSS (directories sort as "name/").
    const names = entries
      .filter((e) => !e.name.includes(TEMP_MARK))
      .map((e) => ({ name: e.isDirectory() ? `${e.name}/` : e.name, dir: e.isDirectory(), file: e.isFile() }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of names) {
      const key = dirKey + e.name;
      if (e.dir) {
        if (key.startsWith(prefix) || prefix.startsWith(key)) yield* this.walk(key, prefix);
      } else if (e.file && key.startsWith(prefix)) {
        try {
          yield this.meta(key, await stat(this.pathOf(key)));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // deleted while listing
        }
      }
    }
  }

  async head(key: string): Promise<ObjectMeta> {
    try {
      const st = await stat(this.pathOf(key));
      if (!st.isFile()) throw new ObjectNotFoundError(this.urlFor(key));
      return this.meta(key, st);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ObjectNotFoundError(this.urlFor(key));
      throw err;
    }
  }

  /** Metadata including the CRC-64, reading the file if it is not memoised. */
  async checksum(key: string): Promise<ObjectMeta> {
    const m = await this.head(key);
    if (m.crc64 !== undefined) return m;
    const crc = new Crc64();
    const path = this.pathOf(key);
    for await (const chunk of createReadStream(path)) crc.update(chunk as Buffer);
    const st = await stat(path);
    this.remember(st, crc.toString());
    return this.meta(key, st);
  }

  async get(key: string): Promise<Readable> {
    const path = this.pathOf(key);
    // Open first so a missing key fails here, not later inside the stream.
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ObjectNotFoundError(this.urlFor(key));
      throw err;
    }
    return handle.createReadStream();
  }

  async download(key: string, destPath: string): Promise<ObjectMeta> {
    const src = await this.get(key);
    return this.writeAtomically(destPath, src, undefined).then(async ({ crc }) => {
      const st = await stat(this.pathOf(key));
      const m = this.meta(key, st);
      m.crc64 = crc;
      return m;
    });
  }

  async put(key: string, source: Readable | string, _opts: PutOptions = {}): Promise<ObjectMeta> {
    const dest = this.pathOf(key);
    await mkdir(dirname(dest), { recursive: true });
    const input = typeof source === 'string' ? createReadStream(source) : source;
    const { crc, st } = await this.writeAtomically(dest, input, undefined);
    this.remember(st, crc);
    const m = this.meta(key, st);
    m.crc64 = crc;
    return m;
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.pathOf(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // deleting a missing key is fine, as in OSS
    }
  }

  /** Stream into a temp file next to `dest`, fsync, rename. Returns the CRC of what was written. */
  private async writeAtomically(dest: string, input: Readable, _size: number | undefined) {
    await mkdir(dirname(dest), { recursive: true });
    const tmp = join(dirname(dest), `.${TEMP_MARK}${randomBytes(6).toString('hex')}`);
    const crc = new Crc64();
    const hasher = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        crc.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      const out = createWriteStream(tmp, { flags: 'wx' });
      await pipeline(input, hasher, out);
      const fh = await open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const st = await stat(dest);
    return { crc: crc.toString(), st };
  }
}
