import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import {
  agentMessage,
  type AgentHeartbeat,
  type AgentHello,
  type AgentMessage,
  type MasterMessage,
  type Welcome,
} from '../protocol/agent-messages.js';
import { CloseCode, PROTOCOL_VERSION } from '../protocol/version.js';
import { pinnedConnection } from '../protocol/tls-pin.js';
import { closeReason } from '../protocol/close-reason.js';
import { compileRetryPolicy, delayFor, type CompiledRetryPolicy } from '../retry/retry-policy.js';
import { systemClock, type AgentClock } from './clock.js';
import { parseMasterFrame } from './master-frame.js';
import type { MasterTarget } from './options.js';

/** The master will never accept this agent as configured: retrying cannot help, the agent exits. */
export class AgentFatalError extends Error {
  constructor(
    readonly kind: 'unauthorized' | 'protocol',
    message: string,
  ) {
    super(message);
    this.name = 'AgentFatalError';
  }
}

export interface ConnectionHandlers {
  /** Builds the hello for this connection (attempts change between connections). */
  hello(): Promise<AgentHello>;
  /** Builds a heartbeat; sent right after welcome and then every welcome.heartbeatMs. */
  heartbeat(): Promise<AgentHeartbeat>;
  /** The master accepted us; replay what it has not acknowledged. */
  welcomed(welcome: Welcome): void;
  /** Every other valid frame (assign, kill, ack, drain). */
  message(msg: Exclude<MasterMessage, { type: 'welcome' } | { type: 'refused' } | { type: 'pace' }>): void;
  /** The connection dropped; the agent keeps running and buffering. */
  disconnected(): void;
  fatal(err: AgentFatalError): void;
}

export interface ConnectionOptions {
  /**
   * The master's agent URL and TLS pin, asked again before every dial (they may come from
   * master.json, which a restarted master rewrites).
   */
  target: () => MasterTarget;
  token: string;
  log: Logger;
  /** First reconnect delay. @default 100 */
  reconnectBaseMs?: number;
  /** Cap of the exponential backoff. */
  reconnectMaxMs: number;
  /** Times the master's silence and the redial and heartbeat timers. @default systemClock */
  clock?: AgentClock;
}

/**
 * One logical link to the master over successive WebSockets: dials with the token in the
 * upgrade request, says hello, waits for welcome, heartbeats, and redials with exponential
 * backoff and jitter after anything except a refusal that retrying cannot fix.
 */
export class MasterConnection {
  private ws: WebSocket | undefined;
  private ready = false;
  private stopped = false;
  private failures = 0;
  private cancelRedial: (() => void) | undefined;
  private cancelHeartbeats: (() => void) | undefined;
  private lastHeard = 0;
  private refusedReason: string | undefined;
  private lastError: string | undefined;
  private currentUrl = '';
  private readonly redial: CompiledRetryPolicy;
  private readonly clock: AgentClock;

  constructor(
    private readonly opts: ConnectionOptions,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.clock = opts.clock ?? systemClock;
    // Redials never give up; half the delay is random so a restarted master is not hit by
    // every agent at once, and the other half keeps a flapping master from being hammered.
    this.redial = compileRetryPolicy({
      initialIntervalMs: opts.reconnectBaseMs ?? 100,
      maximumIntervalMs: opts.reconnectMaxMs,
      maximumAttempts: Infinity,
      jitter: 0.5,
    });
  }

  /** Welcomed and open: frames sent now reach the master (or are replayed later from the outbox). */
  get isReady(): boolean {
    return this.ready && this.ws?.readyState === WebSocket.OPEN;
  }

  /** Bytes queued in the socket and not yet written to the network. */
  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  start(): void {
    this.dial();
  }

  /** Sends a frame if connected; returns false when it was not sent (caller's outbox keeps it). */
  send(msg: AgentMessage): boolean {
    if (!this.isReady) return false;
    return this.sendRaw(msg);
  }

  private sendRaw(msg: AgentMessage): boolean {
    if (!agentMessage.check(msg)) {
      // A bug in the agent: sending it would get us disconnected with 4400.
      this.opts.log.error({ type: (msg as { type?: string }).type, problems: agentMessage.problems(msg) }, 'refusing to send an invalid frame');
      return false;
    }
    try {
      this.ws!.send(JSON.stringify(msg));
      return true;
    } catch (err) {
      this.opts.log.warn({ err }, 'sending a frame failed; it will be replayed after reconnecting');
      return false;
    }
  }

  /**
   * Drops the connection and dials again at once: the next hello states what really runs here,
   * which is how the agent hands back an assignment it will not run (the master requeues what a
   * hello does not list).
   */
  reconnectNow(reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    ws.close(1000, closeReason(reason));
    // A master that does not answer the close handshake must not delay the new hello by ws's 30 s.
    setTimeout(() => ws.readyState !== WebSocket.CLOSED && ws.terminate(), 1000).unref();
  }

  /** Stops for good (agent shutdown). */
  close(): void {
    this.stopped = true;
    this.cancelRedial?.();
    this.cancelHeartbeats?.();
    this.ws?.close(1000, 'agent shutting down');
  }

  private dial(): void {
    if (this.stopped) return;
    const { log } = this.opts;
    this.ready = false;
    this.refusedReason = undefined;
    this.lastError = undefined;
    let url: string;
    let tlsFingerprint: string | undefined;
    try {
      ({ url, tlsFingerprint } = this.opts.target());
    } catch (err) {
      this.lastError = (err as Error).message;
      if (this.failures === 0) log.warn({ err: this.lastError }, 'cannot tell where the master is; retrying with backoff');
      this.ws = undefined;
      this.lost();
      return;
    }
    this.currentUrl = url;
    log.debug({ url }, 'connecting to master');
    const pinned = url.startsWith('wss:') && tlsFingerprint !== undefined;
    const ws = new WebSocket(url, {
      headers: { Authorization: `Bearer ${this.opts.token}` },
      handshakeTimeout: 10_000,
      maxPayload: 64 * 1024 * 1024,
      // The upgrade request (with the token) is written only once the pinned handshake succeeded.
      ...(pinned ? { createConnection: pinnedConnection(tlsFingerprint!) as never } : {}),
    });
    this.ws = ws;
    const current = (): boolean => this.ws === ws;

    ws.on('open', () => {
      if (!current()) return;
      this.lastHeard = this.clock.now();
      void this.handlers
        .hello()
        .then((hello) => {
          if (current() && ws.readyState === WebSocket.OPEN) this.sendRaw(hello);
        })
        .catch((err: unknown) => {
          log.error({ err }, 'building hello failed; reconnecting');
          ws.terminate();
        });
    });
    ws.on('message', (data, isBinary) => {
      if (!current()) return;
      this.lastHeard = this.clock.now();
      this.receive(ws, isBinary ? null : data.toString());
    });
    ws.on('pong', () => {
      if (current()) this.lastHeard = this.clock.now();
    });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      if (!current()) return;
      const status = res.statusCode ?? 0;
      res.resume();
      if (status === 401 || status === 403) {
        this.fail(new AgentFatalError('unauthorized', `agent token rejected by master ${url}: check --token / QFARM_AGENT_TOKEN`));
      } else if (status === 426) {
        this.fail(new AgentFatalError('protocol', `master ${url} refused agent protocol version ${PROTOCOL_VERSION} (HTTP 426): upgrade the agent or the master`));
      } else {
        log.warn({ url, status }, 'master answered the WebSocket upgrade with an HTTP error; retrying');
        ws.terminate();
        this.lost();
      }
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      if (!current()) return;
      this.lastError = err.message;
      const certificateProblem = describeCertificateProblem(err, pinned);
      // Loud while it lasts (a wrong pin or an impostor never heals by itself), but not every dial.
      if (certificateProblem && (this.failures === 0 || this.failures % 10 === 0)) {
        log.error({ url, code: err.code, attempts: this.failures + 1 }, `${certificateProblem}; the agent token was not sent; retrying with backoff`);
      } else log.debug({ url, err: err.message }, 'connection to master failed');
      // 'close' follows 'error' for an opened socket; for a failed dial it may not.
      if (ws.readyState !== WebSocket.OPEN) setImmediate(() => current() && this.lost());
    });
    ws.on('close', (code, reasonBuf) => {
      if (!current()) return;
      const reason = reasonBuf.toString() || this.refusedReason || '';
      switch (code) {
        case CloseCode.Unauthorized:
          this.fail(new AgentFatalError('unauthorized', `agent token rejected by master ${url}: check --token / QFARM_AGENT_TOKEN`));
          return;
        case CloseCode.ProtocolMismatch:
          this.fail(
            new AgentFatalError('protocol', `master ${url} refused agent protocol version ${PROTOCOL_VERSION}${reason ? `: ${reason}` : ''}; upgrade the agent or the master`),
          );
          return;
        case CloseCode.AgentIdInUse:
          // Either our own previous connection is not yet known dead to the master (it frees the id
          // after 3 missed heartbeats), or another agent shares our --state-dir. Retrying is right
          // in the first case and harmless in the second; exiting would kill our running tasks.
          log.error(
            { url, reason },
            "master says another live connection holds this agent's id; retrying with backoff (if this persists, two agents share a --state-dir: give each its own)",
          );
          break;
        case CloseCode.NotYourAttempt:
          log.error({ code, reason }, 'master refused a frame from this agent (agent bug or a stale attempt?); reconnecting with backoff');
          break;
        case CloseCode.InvalidMessage:
          log.error({ code, reason }, 'master rejected a frame from this agent as invalid (agent bug?); reconnecting');
          break;
        default: {
          // Warn once per outage; a master that is down for a while would otherwise flood the log.
          const level = this.failures === 0 ? 'warn' : 'debug';
          log[level]({ url, code, reason, err: this.lastError }, 'connection to master lost or refused; reconnecting with backoff');
        }
      }
      this.lost();
    });
  }

  private receive(ws: WebSocket, text: string | null): void {
    const { log } = this.opts;
    let msg: MasterMessage;
    try {
      if (text === null) throw new Error('binary frame (frames are JSON text)');
      msg = parseMasterFrame(text);
    } catch (err) {
      // A bad frame is the master's bug; acting on a guess could run or kill the wrong thing.
      log.warn({ reason: (err as Error).message, frame: text?.slice(0, 200) }, 'ignoring an invalid frame from the master');
      return;
    }
    switch (msg.type) {
      case 'welcome':
        if (msg.protocolVersion !== PROTOCOL_VERSION) {
          this.fail(new AgentFatalError('protocol', `master speaks protocol ${msg.protocolVersion}, this agent ${PROTOCOL_VERSION}: upgrade the agent or the master`));
          return;
        }
        this.ready = true;
        this.failures = 0;
        log.info({ url: this.currentUrl, knownAs: msg.hostname, cancel: msg.cancel.length }, 'connected to master');
        this.handlers.welcomed(msg);
        this.startHeartbeats(ws, msg.heartbeatMs);
        return;
      case 'pace':
        // Every agent hears this at once: the first beat at the new pace falls anywhere in the
        // interval, or their heartbeats would all arrive together from then on.
        log.info({ heartbeatMs: msg.heartbeatMs }, 'master set the heartbeat interval');
        this.startHeartbeats(ws, msg.heartbeatMs, Math.max(1, Math.random() * msg.heartbeatMs));
        return;
      case 'refused':
        this.refusedReason = msg.reason;
        if (/protocol/i.test(msg.reason)) {
          this.fail(new AgentFatalError('protocol', `master ${this.currentUrl} refused this agent: ${msg.reason}`));
          return;
        }
        log.error({ reason: msg.reason }, 'master refused this agent; will retry');
        ws.close(1000, 'refused');
        return;
      default:
        if (!this.ready) log.warn({ type: msg.type }, 'frame before welcome; handling it anyway');
        this.handlers.message(msg);
    }
  }

  /** A heartbeat now (or after `firstInMs`), then every heartbeatMs. */
  private startHeartbeats(ws: WebSocket, heartbeatMs: number, firstInMs = 0): void {
    this.cancelHeartbeats?.();
    const beat = (): void => {
      if (this.ws !== ws || ws.readyState !== WebSocket.OPEN) return;
      // A half-open TCP connection never errors by itself: give up when the master is silent.
      const silentMs = this.clock.now() - this.lastHeard;
      if (silentMs > Math.max(3 * heartbeatMs, 10_000)) {
        this.opts.log.warn({ silentMs }, 'master silent; reconnecting');
        ws.terminate();
        return;
      }
      // Ask for a sign of life only when the master has said nothing for a while: on an idle farm
      // every other beat, on a busy one (assignments, acks) never. Each pong is a write for the
      // master, whose cost at 20,000 agents was as much as the heartbeats' own.
      if (silentMs > 1.5 * heartbeatMs) ws.ping();
      void this.handlers
        .heartbeat()
        .then((hb) => this.send(hb))
        .catch((err: unknown) => this.opts.log.warn({ err }, 'building a heartbeat failed'));
    };
    if (firstInMs === 0) {
      beat();
      this.cancelHeartbeats = this.clock.setInterval(beat, heartbeatMs);
      return;
    }
    let cancelInterval: (() => void) | undefined;
    const cancelFirst = this.clock.setTimeout(() => {
      beat();
      cancelInterval = this.clock.setInterval(beat, heartbeatMs);
    }, firstInMs);
    this.cancelHeartbeats = () => {
      cancelFirst();
      cancelInterval?.();
    };
  }

  private lost(): void {
    const wasReady = this.ready;
    this.ready = false;
    this.cancelHeartbeats?.();
    this.ws?.removeAllListeners('message');
    this.ws = undefined;
    if (wasReady) this.handlers.disconnected();
    if (this.stopped) return;
    this.cancelRedial?.();
    this.failures++;
    const delay = delayFor(this.redial, this.failures);
    this.opts.log.debug({ delay }, 'reconnecting after backoff');
    this.cancelRedial = this.clock.setTimeout(() => this.dial(), delay);
  }

  private fail(err: AgentFatalError): void {
    this.stopped = true;
    this.ready = false;
    this.cancelHeartbeats?.();
    this.cancelRedial?.();
    const ws = this.ws;
    this.ws = undefined;
    ws?.terminate();
    this.handlers.fatal(err);
  }
}

/** A certificate refusal, worded for the agent's log; undefined for other network errors. */
function describeCertificateProblem(err: NodeJS.ErrnoException, pinned: boolean): string | undefined {
  if (err.code === 'QFARM_TLS_PIN_MISMATCH') return `refusing the master: ${err.message}`;
  if (!pinned && /CERT|SIGNATURE|SELF_SIGNED/.test(err.code ?? '')) {
    return `refusing the master: its TLS certificate is not signed by a known authority (${err.code}) and no fingerprint is pinned: pass --tls-fingerprint (tlsFingerprint in the master's master.json)`;
  }
  return undefined;
}
