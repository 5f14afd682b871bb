/** XML bodies in the shapes OSS documents (errors, listings, multipart results). */

export function esc(s: string | number): string {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n';

/** `<Tag>value</Tag>` for every defined field, in order. */
export function fields(obj: Record<string, string | number | boolean | undefined>): string {
  return Object.entries(obj)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<${k}>${esc(String(v))}</${k}>`)
    .join('');
}

export function errorXml(
  code: string,
  message: string,
  requestId: string,
  hostId: string,
  extra: Record<string, string | number | undefined> = {},
): string {
  return `${HEAD}<Error>${fields({ Code: code, Message: message, RequestId: requestId, HostId: hostId, ...extra })}</Error>\n`;
}

export function document(root: string, inner: string): string {
  return `${HEAD}<${root}>${inner}</${root}>\n`;
}

/** Values of `<tag>` elements inside each `<container>` block (enough for CompleteMultipartUpload). */
export function parseParts(xml: string): { partNumber: number; etag: string }[] {
  const parts: { partNumber: number; etag: string }[] = [];
  for (const block of xml.match(/<Part>[\s\S]*?<\/Part>/g) ?? []) {
    const num = /<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(block);
    const etag = /<ETag>\s*([^<]*?)\s*<\/ETag>/.exec(block);
    if (!num || !etag) throw new Error('malformed Part');
    parts.push({ partNumber: Number(num[1]), etag: unescapeXml(etag[1]!) });
  }
  return parts;
}

function unescapeXml(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
