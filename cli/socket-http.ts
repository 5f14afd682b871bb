import net from 'node:net';

/** What the API client needs of an HTTP answer. */
export interface HttpAnswer {
  status: number;
  text: string;
}

/** The answer on the socket was not the HTTP the master speaks, or ended early. */
export const BAD_ANSWER = 'QFARM_BAD_ANSWER';
/** No complete answer within the time asked for. */
export const TIMEOUT = 'QFARM_TIMEOUT';

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * One HTTP/1.1 request over the master's unix socket (QFARM_HOME/api.sock), written and read by
 * hand. Why not node:http: loading it (parser, agent, five modules) is a few ms of every CLI
 * call, and its agent's server-name check compiles Node's IPv6 regular expression (up to 10 ms
 * on a busy machine), all for a request to a socket file. The request says `Connection: close`,
 * so the answer ends where the stream ends; its body is cut by Content-Length or decoded from
 * chunked transfer coding. Rejects with a Node error whose `code` says what failed (ENOENT,
 * ECONNREFUSED, `TIMEOUT`, `BAD_ANSWER`); `timeoutMs` 0 waits forever (long polls).
 */
export function requestOverSocket(socketPath: string, method: string, target: string, headers: Record<string, string>, payload: Buffer | undefined, timeoutMs: number): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(parseAnswer(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    });
    if (timeoutMs > 0) socket.setTimeout(timeoutMs, () => socket.destroy(codedError(TIMEOUT, `no answer within ${timeoutMs} ms`)));
    let head = `${method} ${target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    head += '\r\n';
    // Not socket.end(): a node:http server drops a request whose client half-closed before the
    // answer was written. The master closes the connection after answering (connection: close).
    socket.write(payload ? Buffer.concat([Buffer.from(head, 'latin1'), payload]) : head);
  });
}

/** Status and body of a whole HTTP/1.1 answer as read until the master closed the stream. */
export function parseAnswer(bytes: Buffer): HttpAnswer {
  const headEnd = bytes.indexOf(HEAD_END);
  if (headEnd < 0) throw codedError(BAD_ANSWER, bytes.length === 0 ? 'the master closed the connection without answering' : 'the answer ended inside its headers');
  const [statusLine = '', ...headerLines] = bytes.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!status) throw codedError(BAD_ANSWER, `not an HTTP/1.1 answer: ${JSON.stringify(statusLine.slice(0, 80))}`);
  const headers = new Map<string, string>();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const rest = bytes.subarray(headEnd + HEAD_END.length);
  let body: Buffer;
  if (/\bchunked\b/i.test(headers.get('transfer-encoding') ?? '')) {
    body = decodeChunked(rest);
  } else if (headers.has('content-length')) {
    const length = Number(headers.get('content-length'));
    if (!Number.isInteger(length) || length < 0) throw codedError(BAD_ANSWER, `Content-Length ${JSON.stringify(headers.get('content-length'))} is not a length`);
    if (rest.length < length) throw codedError(BAD_ANSWER, `the answer ended after ${rest.length} of its ${length} bytes`);
    body = rest.subarray(0, length);
  } else {
    body = rest;
  }
  return { status: Number(status[1]), text: body.toString('utf8') };
}

/** The body of a chunked answer: hex size line, that many bytes, CRLF; a 0 size ends it. */
function decodeChunked(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at);
    if (lineEnd < 0) throw codedError(BAD_ANSWER, 'the chunked answer ended without its last chunk');
    const size = parseInt(bytes.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isInteger(size) || size < 0) throw codedError(BAD_ANSWER, 'a chunk of the answer has no valid size');
    if (size === 0) return Buffer.concat(parts);
    const start = lineEnd + 2;
    if (start + size > bytes.length) throw codedError(BAD_ANSWER, 'the chunked answer ended inside a chunk');
    parts.push(bytes.subarray(start, start + size));
    at = start + size + 2;
  }
}

function codedError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}
