import type { IncomingMessage, Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Logger } from 'pino';
import { AgentLimits, hostInventory, type AgentHello, type AgentMessage, type MasterMessage } from '../protocol/agent-messages.js';
import { closeReason } from '../protocol/close-reason.js';
import { AGENT_SOCKET_PATH, CloseCode, PROTOCOL_VERSION } from '../protocol/version.js';
import { decodeAgentFrame, frameRefusal } from './agent-frame.js';
import { AgentSession } from './agent-session.js';
import { AttemptOwnership } from './attempt-ownership.js';
import type { Clock } from './clock.js';
import type { MasterEventBus } from './events.js';
import type { JobSpecs } from './job-specs.js';
import { LeaseGrace } from './lease-grace.js';
import type { LogStore } from './log-store.js';
import { planReattach } from './reattach.js';
import { ResultIntake } from './result-intake.js';
import { attemptReader, type AttemptReader } from './store/attempt-reader.js';
import type { Db } from './store/database.js';
import type { TickTransaction } from './store/tick-transaction.js';
import { OutputSeq, type Transitions } from './store/transitions.js';
import { tokenMatches } from './tokens.js';
import { HostLiveness } from './host-liveness.js';
import { RefillLatency } from './refill-latency.js';

export interface AgentHubOptions {
  agentToken: string;
  /** How often agents send heartbeats, until the farm is too large for it (heartbeat-pace.ts). */
  heartbeatMs: number;
  /** Heartbeats a second the master takes before it slows every agent's. */
  heartbeatsPerSecond: number;
  /** How long a disconnected agent's tasks stay leased to it before they are requeued. */
  leaseGraceMs: number;
  /** How long to wait for the first frame (hello) of a new connection. */
  helloTimeoutMs: number;
}

/** A connected agent as the scheduler sees it. */
export interface HostCapacity {
  session: AgentSession;
  free: number;
}

/**
 * Frames whose handling nobody waits on: they join the next turn's transaction, or one a few ms
 * later (tick-transaction.ts enqueueLazy), instead of a commit of their own. A result, an upload
 * freeing slots and an interactive session's frames are handled in the next turn.
 */
const WAITED_ON_BY_NOBODY: ReadonlySet<AgentMessage['type']> = new Set(['started', 'usage', 'output']);

/**
 * The agents' side of the master: authenticates WebSocket upgrades, validates every frame,
 * tracks each agent's attempts and slots, and keeps leases of disconnected agents for a grace
 * period (lease-grace.ts) so that a reconnecting agent (or a restarted master) reattaches its
 * running tasks (reattach.ts). Results are committed by result-intake.ts; heartbeats, silent
 * agents and hosts.last_seen are host-liveness.ts's.
 */
export class AgentHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  private readonly sessions = new Map<string, AgentSession>();
  /** How long freed slots wait for their next task (/metrics, bench:agents). */
  readonly refills = new RefillLatency();
  /**
   * Connected sessions with a free slot, kept as slots are taken and freed: a scheduling pass
   * (one per turn under load) looks at these, not at every one of thousands of agents.
   */
  private readonly withFreeSlots = new Set<AgentSession>();
  private readonly slotsChanged = (session: AgentSession): void => {
    if (this.sessions.get(session.agentId) === session && session.freeSlots() > 0) this.withFreeSlots.add(session);
    else this.withFreeSlots.delete(session);
  };
  private readonly liveness: HostLiveness;
  private closing = false;
  private readonly ownership: AttemptOwnership;
  private readonly attempts: AttemptReader;
  private readonly grace: LeaseGrace;
  private readonly results: ResultIntake;
  /** Other WebSocket endpoints on the API port (the interactive relay), by path. */
  private readonly upgradeRoutes = new Map<string, (req: IncomingMessage, socket: Duplex, head: Buffer) => void>();

  constructor(
    db: Db,
    private readonly transitions: Transitions,
    private readonly logs: LogStore,
    private readonly events: MasterEventBus,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly options: AgentHubOptions,
    /** Frames that write are handled in the turn's one transaction (store/tick-transaction.ts). */
    private readonly tick: TickTransaction,
    specs: JobSpecs,
  ) {
    this.ownership = new AttemptOwnership(db);
    this.attempts = attemptReader(db);
    this.results = new ResultIntake(this.attempts, transitions, events, log, tick, specs);
    this.grace = new LeaseGrace(this.attempts, transitions, log, options.leaseGraceMs, (agentId) => this.sessions.has(agentId));
    this.liveness = new HostLiveness(transitions, this.sessions, clock, log, { baseMs: options.heartbeatMs, perSecond: options.heartbeatsPerSecond });
  }

  attach(server: Server | HttpsServer): void {
    server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.liveness.start();
    this.grace.startForEveryLeaseHolder();
  }

  /** The heartbeat interval agents are told now (it grows with the farm). */
  heartbeatMs(): number {
    return this.liveness.heartbeatMs;
  }

  connectedAgentIds(): Set<string> {
    return new Set(this.sessions.keys());
  }

  sessionsList(): AgentSession[] {
    return [...this.sessions.values()];
  }

  session(agentId: string): AgentSession | undefined {
    return this.sessions.get(agentId);
  }

  /** Connected, enabled hosts with at least one free slot (not every connected host: see slotsChanged). */
  capacity(disabledHosts: ReadonlySet<string>): HostCapacity[] {
    const out: HostCapacity[] = [];
    for (const session of this.withFreeSlots) {
      if (disabledHosts.has(session.hostname)) continue;
      const free = session.freeSlots();
      if (free > 0) out.push({ session, free });
    }
    return out;
  }

  /** Hands WebSocket upgrades for `pathname` to `handler` (the hub answers every other path). */
  routeUpgrade(pathname: string, handler: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): void {
    this.upgradeRoutes.set(pathname, handler);
  }

  /** A frame to a connected agent; false when it is not connected. */
  sendTo(agentId: string, frame: MasterMessage): boolean {
    const session = this.sessions.get(agentId);
    if (!session) return false;
    session.send(frame);
    return true;
  }

  sendKill(agentId: string, attemptId: string, reason: string): void {
    this.sessions.get(agentId)?.send({ type: 'kill', attemptId, reason });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.liveness.stop();
    this.grace.close();
    for (const session of this.sessions.values()) session.ws.close(CloseCode.Shutdown, 'master shutting down');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  // ------------------------------------------------------------------ connection set-up

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://master');
    const routed = this.upgradeRoutes.get(url.pathname);
    if (routed) return routed(req, socket, head);
    if (url.pathname !== AGENT_SOCKET_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : '';
    if (!tokenMatches(token, this.options.agentToken)) {
      this.log.warn({ remote: req.socket.remoteAddress }, 'agent connection refused: missing or wrong agent token');
      const body = 'agent token rejected: use the agent token from QFARM_HOME/agent-token of the master\n';
      socket.end(
        `HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, socket, req.socket.remoteAddress ?? '?'));
  }

  private onConnection(ws: WebSocket, socket: Duplex, remote: string): void {
    let session: AgentSession | undefined;
    const helloTimer = setTimeout(() => {
      this.log.warn({ remote }, 'agent sent no hello in time; closing');
      ws.close(CloseCode.InvalidMessage, 'expected a hello frame first');
    }, this.options.helloTimeoutMs);

    ws.on('message', (data: RawData, isBinary: boolean) => {
      // Frames that arrive after we decided to close (pipelined behind a refused one) are not acted on.
      if (ws.readyState !== ws.OPEN) return;
      let message: AgentMessage;
      try {
        message = decodeAgentFrame(data, isBinary);
      } catch (err) {
        const reason = frameRefusal(err);
        this.log.warn({ remote, agent: session?.hostname, reason }, 'invalid frame from agent; closing its connection');
        ws.close(CloseCode.InvalidMessage, closeReason(reason));
        return;
      }
      if (!session) {
        if (message.type !== 'hello') {
          ws.close(CloseCode.InvalidMessage, 'expected a hello frame first');
          return;
        }
        clearTimeout(helloTimer);
        // What this agent (or another) said before now is in the store before the hello is read.
        this.tick.flush();
        session = this.onHello(ws, socket, message, remote);
        return;
      }
      session.lastFrameAt = this.clock.now();
      // A heartbeat writes nothing now (host-liveness.ts): it needs no turn of the store, and
      // never reaches onMessage.
      if (message.type === 'heartbeat') return this.liveness.heard(session, message);
      if (message.type === 'finished') this.refills.resultArrived(session.agentId);
      const from = session;
      const frame = message;
      const handle = (): void => {
        // A frame queued behind one that made us close the connection is not acted on.
        if (ws.readyState !== ws.OPEN) return;
        try {
          this.onMessage(from, frame);
        } catch (err) {
          this.log.error({ err, agent: from.hostname, type: frame.type }, 'failed to handle agent message');
        }
      };
      if (WAITED_ON_BY_NOBODY.has(frame.type)) this.tick.enqueueLazy(handle);
      else this.tick.enqueue(handle);
    });
    ws.on('close', () => {
      clearTimeout(helloTimer);
      this.tick.flush();
      if (session && this.sessions.get(session.agentId) === session) {
        this.refills.left(session.agentId);
        this.onDisconnect(session);
      }
    });
    ws.on('error', (err) => this.log.warn({ remote, err: err.message }, 'agent socket error'));
  }

  private onHello(ws: WebSocket, socket: Duplex, hello: AgentHello, remote: string): AgentSession | undefined {
    if (hello.protocolVersion !== PROTOCOL_VERSION) {
      const reason =
        `agent ${hello.hostname} speaks protocol ${hello.protocolVersion} but this master speaks ${PROTOCOL_VERSION}: ` +
        `install the same qfarm version on the agent and the master`;
      this.log.warn({ remote }, reason);
      ws.send(JSON.stringify({ type: 'refused', reason }));
      ws.close(CloseCode.ProtocolMismatch, 'protocol version mismatch');
      return undefined;
    }
    const previous = this.sessions.get(hello.agentId);
    if (previous) {
      // The first connection keeps its id while it is alive: a second hello with a live agent's
      // id is an impostor (or a second agent sharing a --state-dir), never a reason to evict.
      if (previous.isAlive(this.clock.now())) {
        this.log.warn(
          { agentId: hello.agentId, host: hello.hostname, remote, holder: previous.hostname, holderRemote: previous.remote },
          'refused a hello reusing the id of a live, connected agent',
        );
        ws.close(CloseCode.AgentIdInUse, closeReason(`agent id ${hello.agentId} is in use by live host ${previous.hostname}`));
        return undefined;
      }
      // The old connection is dead but not yet noticed: drop it quietly, the agent is back.
      this.sessions.delete(hello.agentId);
      this.withFreeSlots.delete(previous);
      previous.ws.terminate();
    }
    this.grace.end(hello.agentId);

    const session = new AgentSession(ws, hostInventory(hello), remote, this.clock.now(), socket);
    // A draining agent hands back any assignment; giving it none avoids a requeue per reconnect.
    session.onSlotsChanged = this.slotsChanged;
    if (hello.draining === true) session.drain();
    this.transitions.upsertHost(session.hello);

    // Reattach: the agent's running attempts that the master still leases to it stay; attempts
    // the master leased to it but the agent no longer has are requeued; attempts the agent has
    // but the master gave up on are cancelled (the agent kills them and drops their results).
    const { kept, forgotten, cancel } = planReattach(this.attempts, hello.agentId, hello.attempts);
    for (const a of kept) session.addAttempt(a.id, { jobId: a.job_id, taskId: a.task_id, slots: a.slots });
    this.sessions.set(hello.agentId, session);
    this.slotsChanged(session);
    session.send({ type: 'welcome', protocolVersion: PROTOCOL_VERSION, hostname: hello.hostname, heartbeatMs: this.liveness.joined(session), cancel });
    this.liveness.farmChanged();
    if (forgotten.length > 0) this.transitions.requeueAttempts(forgotten, `agent ${hello.hostname} restarted and no longer runs them`);
    // Deletions requested while the agent was away.
    for (const a of kept) if (a.delete_requested) session.send({ type: 'kill', attemptId: a.id, reason: 'deleted while the host was disconnected' });
    this.log.info({ agent: hello.hostname, group: hello.group, slots: hello.slots, reattached: session.attempts.size, remote }, 'agent connected');
    this.events.emit('host:online', hello.agentId, hello.hostname);
    this.events.emit('schedule:wanted', `agent ${hello.hostname} connected`);
    return session;
  }

  // ------------------------------------------------------------------ frames

  private onMessage(session: AgentSession, message: AgentMessage): void {
    if ('attemptId' in message && !this.ownership.isOwnedBy(session, message.attemptId)) {
      this.refuseForeignAttempt(session, message.type, message.attemptId);
      return;
    }
    switch (message.type) {
      case 'hello':
        session.ws.close(CloseCode.InvalidMessage, 'hello sent twice');
        return;
      case 'started':
        this.transitions.markStarted(message.attemptId, message.pid, message.startedAt);
        this.events.emit('attempt:started', message.attemptId, session.agentId, session.hostname);
        return;
      // Interactive sessions: the relays check that the agent is the one they talk to.
      case 'session-ack':
        this.events.emit('session:input-written', message.sessionId, session.agentId, message.bytes);
        return;
      case 'session-output':
        this.events.emit('session:output', message.sessionId, session.agentId, message.stream, Buffer.from(message.data, 'base64'));
        return;
      case 'session-exit':
        this.events.emit('session:exit', message.sessionId, session.agentId, { exitStatus: message.exitStatus, signal: message.signal, reason: message.reason });
        return;
      case 'output': {
        const attempt = session.attempts.get(message.attemptId) ?? this.attemptRef(message.attemptId);
        if (!attempt) return;
        const seq = this.transitions.acceptOutputSeq(message.attemptId, message.seq, AgentLimits.outputSeqJump);
        if (seq === OutputSeq.TooFarAhead) {
          // Dropped without moving the stream's position, so later real chunks still land.
          this.log.warn(
            { agentId: session.agentId, agent: session.hostname, attempt: message.attemptId, seq: message.seq, maxJump: AgentLimits.outputSeqJump },
            'dropped an output chunk whose seq is too far ahead of the next expected one',
          );
          return;
        }
        if (seq !== OutputSeq.New) return; // a replayed chunk
        const data = Buffer.from(message.data, 'base64');
        // Appended once its seq is durable: a replay after a crash must not write it twice.
        this.tick.afterCommit(() => {
          this.logs.append(attempt.jobId, attempt.taskId, message.attemptId, message.stream, data);
          this.events.emit('attempt:output', message.attemptId, message.stream, data);
        });
        return;
      }
      case 'uploading': {
        // The process has ended; only its outputs are in flight. Free its slots so the next
        // task starts while the upload runs; the lease itself holds until `finished`.
        if (session.releaseSlots(message.attemptId)) {
          this.events.emit('schedule:wanted', `attempt ${message.attemptId} is uploading its outputs`);
        }
        return;
      }
      case 'usage':
        this.transitions.recordUsage(message.attemptId, message.usage);
        this.events.emit('attempt:usage', message.attemptId, message.usage);
        return;
      case 'finished':
        this.results.accept(session, message);
        this.refills.resultHandled(session.agentId);
        return;
      case 'spot-notice':
        // The group loop records it, drains the agent and requeues what cannot finish in time.
        this.log.warn({ agent: session.hostname, terminationTime: message.terminationTime }, 'agent reports a spot reclaim notice');
        this.events.emit('host:spot-notice', session.agentId, session.hostname, message.terminationTime);
        return;
    }
  }

  /**
   * A frame about an attempt leased to another agent (or never made): a forged result, log
   * injection or a rerun of someone else's task. Nothing is committed; the connection is closed.
   */
  private refuseForeignAttempt(session: AgentSession, type: string, attemptId: string): void {
    this.log.warn(
      { agentId: session.agentId, agent: session.hostname, remote: session.remote, attempt: attemptId, type, leasedTo: this.ownership.owner(attemptId) ?? null },
      'refused a frame about an attempt not leased to this agent; closing its connection',
    );
    session.ws.close(CloseCode.NotYourAttempt, closeReason(`attempt ${attemptId} is not leased to agent ${session.hostname}`));
  }

  private attemptRef(attemptId: string): { jobId: number; taskId: number } | undefined {
    const row = this.attempts.ref(attemptId);
    return row && { jobId: row.job_id, taskId: row.task_id };
  }

  /** Records a lease made by the scheduler so the agent's free slots are right at once. */
  noteAssigned(session: AgentSession, attemptId: string, jobId: number, taskId: number, slots: number): void {
    session.addAttempt(attemptId, { jobId, taskId, slots });
  }

  // ------------------------------------------------------------------ disconnects and leases

  private onDisconnect(session: AgentSession): void {
    this.sessions.delete(session.agentId);
    this.withFreeSlots.delete(session);
    this.liveness.left(session.agentId);
    this.events.emit('host:offline', session.agentId, session.hostname);
    if (this.closing) return;
    this.liveness.farmChanged();
    this.log.warn(
      { agent: session.hostname, running: session.attempts.size, graceMs: this.options.leaseGraceMs },
      'agent disconnected; its tasks stay leased to it for the grace period',
    );
    this.grace.start(session.agentId, session.hostname);
  }
}
