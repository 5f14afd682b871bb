import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { drain, OssError, type Exchange, type OssEnv } from './exchange.js';
import type { MultipartUpload, StoredPart } from './object-data.js';
import { objectMeta, receiveBody } from './request-body.js';
import { document, fields, parseParts } from './xml.js';

/** InitiateMultipartUpload: a new upload id; Content-Type and metadata are kept for the object. */
export async function initiateMultipart(env: OssEnv, ex: Exchange): Promise<void> {
  await drain(ex.req);
  const uploadId = randomBytes(16).toString('hex').toUpperCase();
  env.data.uploads.set(uploadId, {
    uploadId,
    bucket: ex.bucket,
    key: ex.key,
    initiated: new Date(env.now()).toISOString(),
    parts: new Map(),
    ...objectMeta(ex),
  });
  env.replies.send(
    ex,
    200,
    document('InitiateMultipartUploadResult', fields({ Bucket: ex.bucket, Key: ex.key, UploadId: uploadId })),
  );
}

/** The upload named by `uploadId`, for this bucket and key; NoSuchUpload otherwise. */
function findUpload(env: OssEnv, ex: Exchange): MultipartUpload {
  const uploadId = ex.query.get('uploadId') ?? '';
  const upload = env.data.uploads.get(uploadId);
  if (!upload || upload.bucket !== ex.bucket || upload.key !== ex.key) {
    throw new OssError(
      404,
      'NoSuchUpload',
      'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
      { UploadId: uploadId },
    );
  }
  return upload;
}

/** UploadPart: part 1..10000, stored (a re-sent part replaces the old); answers its ETag and CRC-64. */
export async function uploadPart(env: OssEnv, ex: Exchange): Promise<void> {
  const upload = findUpload(env, ex);
  const partNumber = Number(ex.query.get('partNumber'));
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) {
    throw new OssError(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000.');
  }
  const body = await receiveBody(env, ex);
  const etag = `"${body.md5.toString('hex').toUpperCase()}"`;
  const old = upload.parts.get(partNumber);
  upload.parts.set(partNumber, {
    partNumber,
    etag,
    md5: body.md5,
    crc64: body.crc64,
    size: body.size,
    file: body.tmp,
    lastModified: new Date(env.now()).toISOString(),
  });
  if (old) await rm(old.file, { force: true });
  env.replies.send(ex, 200, undefined, { etag, 'x-oss-hash-crc64ecma': body.crc64 });
}

/**
 * CompleteMultipartUpload: the listed parts, ascending, with matching ETags, every part but the
 * last at least 100 KiB; the object's CRC-64 is combined from the parts.
 */
export async function completeMultipart(env: OssEnv, ex: Exchange): Promise<void> {
  const upload = findUpload(env, ex);
  const chunks: Buffer[] = [];
  for await (const c of ex.req) chunks.push(c as Buffer);
  let listed;
  try {
    listed = parseParts(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed.');
  }
  if (listed.length === 0) throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed.');
  const parts: StoredPart[] = [];
  let prev = 0;
  for (const p of listed) {
    if (p.partNumber <= prev) throw new OssError(400, 'InvalidPartOrder', 'The list of parts was not in ascending order.');
    prev = p.partNumber;
    const stored = upload.parts.get(p.partNumber);
    if (!stored || stored.etag.replace(/"/g, '').toUpperCase() !== p.etag.replace(/"/g, '').toUpperCase()) {
      throw new OssError(400, 'InvalidPart', 'One or more of the specified parts could not be found or the specified entity tag might not have matched the part\'s entity tag.', {
        PartNumber: p.partNumber,
      });
    }
    parts.push(stored);
  }
  for (const p of parts.slice(0, -1)) {
    if (p.size < 100 * 1024) throw new OssError(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size.');
  }
  const obj = await env.data.completeMultipart(upload, parts, ex.fault?.kind === 'corrupt');
  env.replies.send(
    ex,
    200,
    document(
      'CompleteMultipartUploadResult',
      fields({ Location: `http://${env.replies.hostId(ex)}/${ex.key}`, Bucket: ex.bucket, Key: ex.key, ETag: obj.etag }),
    ),
    { etag: obj.etag, 'x-oss-hash-crc64ecma': obj.crc64 },
  );
}

/** ListParts: the upload's parts after `part-number-marker`, `max-parts` a page. */
export async function listParts(env: OssEnv, ex: Exchange): Promise<void> {
  const upload = findUpload(env, ex);
  const marker = Number(ex.query.get('part-number-marker') ?? 0);
  const max = Number(ex.query.get('max-parts') ?? 1000);
  const all = [...upload.parts.values()].sort((a, b) => a.partNumber - b.partNumber).filter((p) => p.partNumber > marker);
  const page = all.slice(0, max);
  const truncated = all.length > page.length;
  const items = page
    .map(
      (p) =>
        `<Part>${fields({ PartNumber: p.partNumber, LastModified: p.lastModified, ETag: p.etag, HashCrc64ecma: p.crc64, Size: p.size })}</Part>`,
    )
    .join('');
  env.replies.send(
    ex,
    200,
    document(
      'ListPartsResult',
      fields({
        Bucket: ex.bucket,
        Key: ex.key,
        UploadId: upload.uploadId,
        PartNumberMarker: marker,
        NextPartNumberMarker: page.length ? page[page.length - 1]!.partNumber : marker,
        MaxParts: max,
        IsTruncated: truncated,
      }) + items,
    ),
  );
}

/** AbortMultipartUpload: the upload and its parts are gone. */
export async function abortMultipart(env: OssEnv, ex: Exchange): Promise<void> {
  findUpload(env, ex);
  await env.data.dropUpload(ex.query.get('uploadId')!);
  env.replies.send(ex, 204);
}
