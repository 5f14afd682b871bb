import type { StoredObject } from './object-data.js';
import { OssError, type Exchange, type OssEnv } from './exchange.js';
import { document, esc, fields } from './xml.js';

/**
 * ListObjects (V1: marker) and ListObjectsV2 (continuation-token, start-after, fetch-owner):
 * keys in byte order, `delimiter` folding keys into CommonPrefixes, at most `max-keys` (1..1000,
 * 100 by default) entries a page.
 */
export function listObjects(env: OssEnv, ex: Exchange): void {
  const q = ex.query;
  const v2 = ex.op === 'ListObjectsV2';
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const maxKeysText = q.get('max-keys');
  const maxKeys = maxKeysText === null ? 100 : Number(maxKeysText); // OSS default: 100
  if (!Number.isInteger(maxKeys) || maxKeys < 1 || maxKeys > 1000) {
    throw new OssError(400, 'InvalidArgument', 'Argument max-keys must be an integer between 1 and 1000.', {
      ArgumentName: 'max-keys',
      ArgumentValue: maxKeysText ?? '',
    });
  }
  let after = '';
  const token = q.get('continuation-token');
  if (v2 && token) {
    after = Buffer.from(token, 'base64url').toString('utf8');
  } else if (v2) {
    after = q.get('start-after') ?? '';
  } else {
    after = q.get('marker') ?? '';
  }
  const afterBuf = Buffer.from(after);
  const contents: StoredObject[] = [];
  const prefixes: string[] = [];
  let last = '';
  let truncated = false;
  for (const key of env.data.sortedKeys(ex.bucket)) {
    if (after && Buffer.compare(Buffer.from(key), afterBuf) <= 0) continue;
    if (!key.startsWith(prefix)) continue;
    let common: string | undefined;
    if (delimiter) {
      const i = key.indexOf(delimiter, prefix.length);
      if (i >= 0) common = key.slice(0, i + delimiter.length);
    }
    if (common !== undefined && prefixes[prefixes.length - 1] === common) continue;
    if (contents.length + prefixes.length >= maxKeys) {
      truncated = true;
      break;
    }
    if (common !== undefined) {
      prefixes.push(common);
      last = common + '\uffff'; // resume after everything under this common prefix
    } else {
      contents.push(env.data.get(ex.bucket, key)!);
      last = key;
    }
  }
  const owner = '<Owner><ID>1234567890</ID><DisplayName>1234567890</DisplayName></Owner>';
  const items = contents
    .map(
      (o) =>
        `<Contents>${fields({
          Key: o.key,
          LastModified: new Date(o.lastModified).toISOString(),
          ETag: o.etag,
          Type: o.type,
          Size: o.size,
          StorageClass: 'Standard',
        })}${!v2 || q.get('fetch-owner') === 'true' ? owner : ''}</Contents>`,
    )
    .join('');
  const cps = prefixes.map((p) => `<CommonPrefixes><Prefix>${esc(p)}</Prefix></CommonPrefixes>`).join('');
  const head = v2
    ? fields({
        Name: ex.bucket,
        Prefix: prefix,
        ContinuationToken: token ?? undefined,
        StartAfter: q.get('start-after') ?? undefined,
        MaxKeys: maxKeys,
        Delimiter: delimiter || undefined,
        IsTruncated: truncated,
        NextContinuationToken: truncated ? Buffer.from(last).toString('base64url') : undefined,
        KeyCount: contents.length + prefixes.length,
      })
    : fields({
        Name: ex.bucket,
        Prefix: prefix,
        Marker: after,
        MaxKeys: maxKeys,
        Delimiter: delimiter || undefined,
        IsTruncated: truncated,
        NextMarker: truncated ? last : undefined,
      });
  env.replies.send(ex, 200, document('ListBucketResult', head + items + cps));
}
