import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import { INTERACTIVE_PATH, InteractiveLimits, interactiveClientFrame } from '../../protocol/interactive.js';
import { API_PREFIX } from '../../protocol/version.js';
import type { Authenticator, Identity } from '../api/identity.js';
import { InteractiveSession, type SessionDeps } from './interactive-session.js';

/** A submit frame carries a JobSubmitRequest with its environment (-V): generous, but bounded. */
const MAX_FRAME_BYTES = 4 * 1024 * 1024;

export interface InteractiveOptions {
  /** `-now y` wait. @default 3000 (QFARM_NOW_WAIT_MS) */
  nowWaitMs: number;
  /** @default 0, never (QFARM_INTERACTIVE_IDLE_TIMEOUT, seconds) */
  idleTimeoutMs: number;
}

/** Options from the environment, as the master's other tunables. */
export function interactiveOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): InteractiveOptions {
  const number = (value: string | undefined, fallback: number): number => (value !== undefined && Number.isFinite(Number(value)) && Number(value) >= 0 ? Number(value) : fallback);
  return { nowWaitMs: number(env.QFARM_NOW_WAIT_MS, 3000), idleTimeoutMs: number(env.QFARM_INTERACTIVE_IDLE_TIMEOUT, 0) * 1000 };
}

/**
 * The WebSocket endpoint of qrsh/qlogin on the API port and the API socket. The caller is
 * identified exactly as for the HTTP API (peer uid on the socket, else the bearer token)
 * before the upgrade is accepted; frames are validated and bounded.
 */
export class InteractiveRelay {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  private readonly perUser = new Map<string, number>();

  constructor(
    private readonly auth: Authenticator,
    private readonly deps: Omit<SessionDeps, 'nowWaitMs' | 'idleTimeoutMs'>,
    private readonly options: InteractiveOptions,
    private readonly log: Logger,
  ) {}

  readonly path = API_PREFIX + INTERACTIVE_PATH;

  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.auth.identifyRaw(req).then(
      (who) => {
        if ((this.perUser.get(who.user) ?? 0) >= InteractiveLimits.sessionsPerUser) {
          return refuse(socket, 429, `${who.user} already has ${InteractiveLimits.sessionsPerUser} interactive sessions open; end one first`);
        }
        this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, who));
      },
      (err: unknown) => refuse(socket, (err as { status?: number }).status ?? 401, (err as Error).message),
    );
  }

  close(): void {
    for (const ws of this.wss.clients) ws.close(1001, 'master shutting down');
    this.wss.close();
  }

  private onConnection(ws: WebSocket, who: Identity): void {
    this.perUser.set(who.user, (this.perUser.get(who.user) ?? 0) + 1);
    const session = new InteractiveSession(ws, who, { ...this.deps, ...this.options });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      try {
        if (isBinary) throw new Error('binary frames are not part of the interactive protocol');
        session.onFrame(interactiveClientFrame.parse(JSON.parse(data.toString())));
      } catch (err) {
        this.log.warn({ user: who.user, err: (err as Error).message }, 'invalid interactive frame; closing the session');
        ws.send(JSON.stringify({ type: 'error', message: `invalid frame: ${(err as Error).message}` }));
        ws.close(1008, 'invalid frame');
      }
    });
    ws.on('close', () => {
      this.perUser.set(who.user, (this.perUser.get(who.user) ?? 1) - 1);
      session.onClose();
    });
    ws.on('error', (err) => this.log.warn({ user: who.user, err: err.message }, 'interactive socket error'));
  }
}

function refuse(socket: Duplex, status: number, message: string): void {
  const body = `${message}\n`;
  socket.end(`HTTP/1.1 ${status} Refused\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
