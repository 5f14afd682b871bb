/**
 * Where the fake OSS keeps objects: data files in a directory (so a 1 GiB benchmark object does
 * not live in the heap) plus a JSON sidecar per object, so a standalone fake started again on
 * the same --dir still has its objects. Multipart uploads are kept in memory only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync, readdirSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { combineCrc64, Crc64 } from '../../storage/crc64.js';

export interface StoredObject {
  bucket: string;
  key: string;
  size: number;
  /** Quoted, upper-case hex, as OSS returns it. */
  etag: string;
  crc64: string;
  lastModified: string;
  contentType: string;
  type: 'Normal' | 'Multipart';
  meta: Record<string, string>;
  /** Data file path. */
  file: string;
}

export interface StoredPart {
  partNumber: number;
  etag: string;
  md5: Buffer;
  crc64: string;
  size: number;
  file: string;
  lastModified: string;
}

export interface MultipartUpload {
  uploadId: string;
  bucket: string;
  key: string;
  initiated: string;
  contentType: string;
  meta: Record<string, string>;
  parts: Map<number, StoredPart>;
}

function keyHash(bucket: string, key: string): string {
  return createHash('sha256').update(`${bucket}\n${key}`).digest('hex');
}

export class ObjectData {
  private readonly objects = new Map<string, Map<string, StoredObject>>();
  readonly uploads = new Map<string, MultipartUpload>();

  constructor(
    readonly dir: string,
    buckets: string[],
  ) {
    for (const b of buckets) this.objects.set(b, new Map());
  }

  /** Create directories and load sidecars left by a previous run. */
  async init(): Promise<void> {
    await mkdir(join(this.dir, 'objects'), { recursive: true });
    await mkdir(join(this.dir, 'tmp'), { recursive: true });
    for (const name of readdirSync(join(this.dir, 'objects'))) {
      if (!name.endsWith('.json')) continue;
      const obj = JSON.parse(readFileSync(join(this.dir, 'objects', name), 'utf8')) as StoredObject;
      let bucket = this.objects.get(obj.bucket);
      if (!bucket) this.objects.set(obj.bucket, (bucket = new Map()));
      bucket.set(obj.key, obj);
    }
  }

  hasBucket(bucket: string): boolean {
    return this.objects.has(bucket);
  }

  addBucket(bucket: string): void {
    if (!this.objects.has(bucket)) this.objects.set(bucket, new Map());
  }

  get(bucket: string, key: string): StoredObject | undefined {
    return this.objects.get(bucket)?.get(key);
  }

  /** Keys of a bucket in byte order. */
  sortedKeys(bucket: string): string[] {
    return [...(this.objects.get(bucket)?.keys() ?? [])].sort((a, b) =>
      Buffer.compare(Buffer.from(a), Buffer.from(b)),
    );
  }

  tempPath(): string {
    return join(this.dir, 'tmp', randomBytes(8).toString('hex'));
  }

  /** Move a fully received temp file into place as the object's data and persist its sidecar. */
  async commit(obj: Omit<StoredObject, 'file'>, tempFile: string): Promise<StoredObject> {
    const base = join(this.dir, 'objects', keyHash(obj.bucket, obj.key));
    // A fresh data file name per version: a GET streaming the old version keeps its file.
    const file = `${base}.${randomBytes(4).toString('hex')}.data`;
    await rename(tempFile, file);
    const stored: StoredObject = { ...obj, file };
    const previous = this.get(obj.bucket, obj.key);
    await writeFile(`${base}.json`, JSON.stringify(stored));
    this.objects.get(obj.bucket)!.set(obj.key, stored);
    if (previous) await rm(previous.file, { force: true });
    return stored;
  }

  async delete(bucket: string, key: string): Promise<void> {
    const obj = this.get(bucket, key);
    if (!obj) return;
    this.objects.get(bucket)!.delete(key);
    const base = join(this.dir, 'objects', keyHash(bucket, key));
    await rm(`${base}.json`, { force: true });
    await rm(obj.file, { force: true });
  }

  /**
   * Concatenates parts into a new object; CRC from the parts' CRCs, ETag as OSS builds it. `corruptStored` flips one bit of the first part as it
   * is written (bad disk or memory on the storage side): every part's MD5 checked out, so only
   * the whole-object CRC-64, computed here from what was stored, can tell.
   */
  async completeMultipart(upload: MultipartUpload, parts: StoredPart[], corruptStored = false): Promise<StoredObject> {
    const tmp = this.tempPath();
    const out = createWriteStream(tmp);
    let crc = 0n;
    let size = 0;
    const md5s: Buffer[] = [];
    let corruptPending = corruptStored;
    for (const part of parts) {
      const storedCrc = new Crc64();
      for await (const read of createReadStream(part.file, { highWaterMark: 1024 * 1024 })) {
        let chunk = read as Buffer;
        if (corruptPending && chunk.length > 0) {
          chunk = Buffer.from(chunk);
          chunk[chunk.length >> 1]! ^= 0x01;
          corruptPending = false;
        }
        if (corruptStored) storedCrc.update(chunk);
        if (!out.write(chunk)) await once(out, 'drain');
      }
      crc = combineCrc64(crc, corruptStored ? BigInt(storedCrc.toString()) : BigInt(part.crc64), part.size);
      size += part.size;
      md5s.push(part.md5);
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    const etag = `"${createHash('md5').update(Buffer.concat(md5s)).digest('hex').toUpperCase()}-${parts.length}"`;
    const stored = await this.commit(
      {
        bucket: upload.bucket,
        key: upload.key,
        size,
        etag,
        crc64: crc.toString(10),
        lastModified: new Date().toUTCString(),
        contentType: upload.contentType,
        type: 'Multipart',
        meta: upload.meta,
      },
      tmp,
    );
    await this.dropUpload(upload.uploadId);
    return stored;
  }

  async dropUpload(uploadId: string): Promise<void> {
    const upload = this.uploads.get(uploadId);
    if (!upload) return;
    this.uploads.delete(uploadId);
    for (const p of upload.parts.values()) await rm(p.file, { force: true });
  }
}
