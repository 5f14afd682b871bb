import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Authenticator } from './identity.js';
import { peerCredentials } from './peer-credentials.js';

/**
 * The API on QFARM_HOME/api.sock: the same fastify server, reached by local users without any
 * token. Each connection's peer credentials are read once, when it is accepted, and the
 * connection is then handed to the HTTP server; the Authenticator maps them to the account.
 * Mode 0666: every local user may connect; who they are is what the kernel says.
 */
export async function listenOnUnixSocket(file: string, http: Server, auth: Authenticator, log: Logger): Promise<net.Server> {
  removeStaleSocket(file);
  const server = net.createServer((socket) => {
    try {
      auth.rememberPeer(socket, peerCredentials(socket));
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'API socket: cannot read the peer credentials of a connection; closing it');
      socket.destroy();
      return;
    }
    http.emit('connection', socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => {
      server.off('error', reject);
      resolve();
    });
  });
  fs.chmodSync(file, 0o666);
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
