import * as fs from 'node:fs';
import * as net from 'node:net';
import * as http from 'node:http';
import type { Logger } from 'pino';
import type { Authenticator } from './identity.js';
import { peerCredentials } from './peer-credentials.js';

/**
 * The API on QFARM_HOME/api.sock: the same fastify server, reached by local users without any
 * token. Each connection's peer credentials are read once, when it is accepted, and the
 * connection is then handed to the HTTP server; the Authenticator maps them to the account.
 * Mode 0666: every local user may connect; who they are is what the kernel says.
 * The socket speaks plain HTTP even when the TCP port is TLS (nothing crosses a network): its
 * connections go to a plain http.Server sharing the API's request handler.
 */
export async function listenOnUnixSocket(file: string, api: http.Server, auth: Authenticator, log: Logger): Promise<net.Server> {
  removeStaleSocket(file);
  const plain = http.createServer();
  for (const handler of api.listeners('request')) plain.on('request', handler as http.RequestListener);
  // WebSocket endpoints (interactive sessions) too; identity comes from the same peer credentials.
  for (const handler of api.listeners('upgrade')) plain.on('upgrade', handler as (...args: unknown[]) => void);
  const server = net.createServer((socket) => {
    try {
      auth.rememberPeer(socket, peerCredentials(socket));
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'API socket: cannot read the peer credentials of a connection; closing it');
      socket.destroy();
      return;
    }
    plain.emit('connection', socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => {
      server.off('error', reject);
      resolve();
    });
  });
  fs.chmodSync(file, 0o666);
  server.on('close', () => plain.closeAllConnections());
  server.on('error', (err) => log.error({ err: err.message, file }, 'API socket error'));
  return server;
}

/** A socket file left by a master that died; anything else at that path is not ours to remove. */
function removeStaleSocket(file: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!stat.isSocket()) throw new Error(`${file} exists and is not a socket: move it away so the master can listen there`);
  fs.unlinkSync(file);
}

/** Stops accepting at once; connections already handed over end with the HTTP server. */
export function closeUnixSocket(server: net.Server | undefined, file: string): void {
  if (!server) return;
  server.close();
  fs.rmSync(file, { force: true });
}
