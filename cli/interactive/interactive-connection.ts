import WebSocket from 'ws';
import { INTERACTIVE_PATH } from '../../protocol/interactive.js';
import { API_PREFIX } from '../../protocol/version.js';
import { CliError } from '../cli-errors.js';
import { describeMaster, type MasterLocation } from '../master-location.js';

/**
 * The interactive WebSocket to the master: over QFARM_HOME/api.sock on the master machine (the
 * kernel says who we are), else to the master's URL with the bearer token (never printed).
 */
export async function openInteractive(master: MasterLocation, path: string = INTERACTIVE_PATH): Promise<WebSocket> {
  const route = API_PREFIX + path;
  let ws: WebSocket;
  if (master.socketPath) {
    ws = new WebSocket(`ws+unix://${master.socketPath}:${route}`);
  } else {
    const url = new URL(route, master.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const options: WebSocket.ClientOptions = { headers: { authorization: `Bearer ${master.token}` } };
    if (url.protocol === 'wss:' && master.tlsFingerprint) {
      const { pinnedConnection } = await import('../../protocol/tls-pin.js');
      (options as unknown as { createConnection: unknown }).createConnection = pinnedConnection(master.tlsFingerprint);
    }
    ws = new WebSocket(url, options);
  }
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => reject(new CliError(`error: the qfarm master refused the session: ${body.trim() || `HTTP ${res.statusCode}`}`, 1)));
    });
    ws.once('error', (err) =>
      reject(new CliError(`error: unable to contact qfarm master at ${describeMaster(master)}: ${err.message}. Is it running? Start it with 'qfarm up' or 'qfarm master'`, 1)),
    );
  });
}

/**
 * A frame from the master, validated against its schema (protocol/interactive.ts or
 * protocol/node-sessions.ts): an interactive session is long, so loading TypeBox costs nothing.
 */
export function parseFrame<T>(validator: { parse(value: unknown): T }, text: string): T {
  return validator.parse(JSON.parse(text));
}
