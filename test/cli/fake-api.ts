import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the fake master saw. */
export interface SeenRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  body: unknown;
}

/** Answer with this status to cut the connection instead of answering (a master going away). */
export const DROP_CONNECTION = -1;

/** The answer: a status (default 200) and a JSON body (a string is sent as is), in chunks if asked. */
export interface FakeAnswer {
  status?: number;
  body: unknown;
  chunked?: boolean;
}

export type Responder = (req: SeenRequest) => FakeAnswer | Promise<FakeAnswer>;

/**
 * A tiny stand-in for the master's HTTP API, for testing the CLI's client side only (the real
 * master is tested end to end elsewhere): a real node:http server on an ephemeral port (or on
 * `socketPath`, as the master's api.sock) that records each request and answers what the test says.
 */
export async function startFakeApi(respond: Responder, listen: { socketPath?: string } = {}): Promise<{ url: string; seen: SeenRequest[]; close: () => Promise<void> }> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const request: SeenRequest = { method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body: text ? JSON.parse(text) : undefined };
      seen.push(request);
      const answer = await respond(request);
      if (answer.status === DROP_CONNECTION) {
        req.socket.destroy();
        return;
      }
      res.statusCode = answer.status ?? 200;
      res.setHeader('content-type', 'application/json');
      const answerText = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      if (answer.chunked) {
        // Without a Content-Length node:http sends the body in chunks, one per write.
        for (const piece of answerText.match(/[^]{1,7}/g) ?? []) res.write(piece);
        res.end();
      } else {
        res.end(answerText);
      }
    });
  });
  if (listen.socketPath) await new Promise<void>((resolve) => server.listen(listen.socketPath, resolve));
  else await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: listen.socketPath ? 'http://localhost' : `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    // Also ends requests the test left hanging on purpose.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
