import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FaultRule } from './faults.js';
import type { ObjectData } from './object-data.js';
import type { RequestRecord } from './stats.js';
import { errorXml } from './xml.js';

/** An error the fake answers in OSS's XML shape (status, Code, Message and extra fields). */
export class OssError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, string | number | undefined> = {},
  ) {
    super(message);
  }
}

/** One authenticated OSS request and its response, as every operation handler sees it. */
export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  bucket: string;
  key: string;
  query: URLSearchParams;
  queryList: [string, string][];
  op: string;
  requestId: string;
  fault: FaultRule | undefined;
  record: RequestRecord;
}

/** What operation handlers share: the stored objects, the (skewable) clock and the replies. */
export interface OssEnv {
  data: ObjectData;
  /** The server's clock, including any injected skew. */
  now(): number;
  replies: Replies;
  /** Aborted when the server closes: waits inside a handler stop then. */
  closing: AbortSignal;
}

/** Writes answers with OSS's headers, and errors as OSS's XML (in `x-oss-err` for HEAD). */
export class Replies {
  constructor(
    private readonly region: string,
    private readonly now: () => number,
  ) {}

  baseHeaders(ex: Exchange): Record<string, string> {
    return {
      'x-oss-request-id': ex.requestId,
      date: new Date(this.now()).toUTCString(),
      server: 'AliyunOSS',
    };
  }

  hostId(ex: Exchange): string {
    return `${ex.bucket || 'oss'}.oss-${this.region}.aliyuncs.com`;
  }

  send(ex: Exchange, status: number, body?: string, headers: Record<string, string> = {}): void {
    ex.record.status = status;
    const h: Record<string, string> = { ...this.baseHeaders(ex), ...headers };
    if (body !== undefined) {
      h['content-type'] = 'application/xml';
      h['content-length'] = String(Buffer.byteLength(body));
    } else {
      h['content-length'] = '0';
    }
    ex.res.writeHead(status, h);
    ex.res.end(body);
  }

  sendError(ex: Exchange, err: OssError): void {
    if (ex.res.headersSent || ex.res.destroyed) {
      ex.res.destroy();
      return;
    }
    const extra = { ...err.extra };
    if (ex.key && extra.Key === undefined && err.code === 'NoSuchKey') extra.Key = ex.key;
    const xml = errorXml(err.code, err.message, ex.requestId, this.hostId(ex), extra);
    if (ex.method === 'HEAD') {
      // HEAD answers have no body; OSS carries the error in x-oss-err (base64 XML), which ali-oss reads.
      ex.record.status = err.status;
      ex.res.writeHead(err.status, {
        ...this.baseHeaders(ex),
        'x-oss-err': Buffer.from(xml).toString('base64'),
        'content-length': '0',
      });
      ex.res.end();
      return;
    }
    this.send(ex, err.status, xml);
  }
}

/** Reads and discards what is left of a request body, so the connection can be reused. */
export async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return;
  try {
    for await (const _ of req) {
      /* discard */
    }
  } catch {
    /* the client went away; nothing to answer */
  }
}

/** Writes a chunk, waiting for the socket to drain; rejects when the client closes first. */
export function writeAll(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (res.write(chunk)) return resolve();
    const onDrain = () => {
      res.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      res.off('drain', onDrain);
      reject(new Error('client closed'));
    };
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}
