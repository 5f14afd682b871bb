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

export type Responder = (req: SeenRequest) => { status?: number; body: unknown } | Promise<{ status?: number; body: unknown }>;

/**
 * A tiny stand-in for the master's HTTP API, for testing the CLI's client side only (the real
 * master is tested end to end elsewhere): a real node:http server on an ephemeral port that
 * records each request and answers what the test says.
 */
export async function startFakeApi(respond: Responder): Promise<{ url: string; seen: SeenRequest[]; close: () => Promise<void> }> {
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
      res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    // Also ends requests the test left hanging on purpose.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
