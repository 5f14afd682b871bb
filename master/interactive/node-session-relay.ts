import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import { InteractiveLimits } from '../../protocol/interactive-limits.js';
import { NODE_SESSIONS_PATH, nodeClientFrame, type NodeClientFrame, type NodeServerFrame, type NodeSessionRequest } from '../../protocol/node-sessions.js';
import { API_PREFIX } from '../../protocol/version.js';
import type { AgentHub } from '../agent-hub.js';
import type { AgentSession } from '../agent-session.js';
import type { Authenticator, Identity } from '../api/identity.js';
import type { MasterEventBus } from '../events.js';

const MAX_FRAME_BYTES = 1024 * 1024;
const CLIENT_BACKLOG_BYTES = 8 * 1024 * 1024;

interface NodeRun {
  sessionId: string;
  agentId: string;
  host: string;
  startedAt: number;
  acked: number;
  done: boolean;
}

/**
 * `qfarm exec/shell/push` on the master: the caller (from the connection, as for the API) runs
 * a command on connected nodes through their agents. Every node runs it as the caller; only
 * root runs as root; `shell` (root's shell) is for root and managers and is written to the
 * master's log (who, when, which node). A dropped CLI hangs up every node session.
 */
export class NodeSessionRelay {
  readonly path = API_PREFIX + NODE_SESSIONS_PATH;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });

  constructor(
    private readonly auth: Authenticator,
    private readonly hub: AgentHub,
    private readonly events: MasterEventBus,
    private readonly log: Logger,
  ) {}

  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.auth.identifyRaw(req).then(
      (who) => this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, who)),
      (err: unknown) => {
        const body = `${(err as Error).message}\n`;
        socket.end(`HTTP/1.1 ${(err as { status?: number }).status ?? 401} Refused\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      },
    );
  }

  close(): void {
    for (const ws of this.wss.clients) ws.close(1001, 'master shutting down');
    this.wss.close();
  }

  private onConnection(ws: WebSocket, who: Identity): void {
    const send = (frame: NodeServerFrame): void => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(JSON.stringify(frame));
      if (ws.bufferedAmount > CLIENT_BACKLOG_BYTES) ws.terminate();
    };
    const fail = (message: string): void => {
      send({ type: 'error', message });
      ws.close(1008, message.slice(0, 120));
    };
    let request: NodeSessionRequest | undefined;
    const runs = new Map<string, NodeRun>();
    const waiting: AgentSession[] = [];
    let sent = 0;
    let credited = 0;
    const listeners: Array<() => void> = [];
    const on = <K extends Parameters<MasterEventBus['on']>[0]>(name: K, fn: (...args: never[]) => void): void => {
      this.events.on(name, fn as never);
      listeners.push(() => this.events.off(name, fn as never));
    };
    const mine = (sessionId: string, agentId: string): NodeRun | undefined => {
      const run = runs.get(sessionId);
      return run && run.agentId === agentId ? run : undefined;
    };
    // Input goes to every node: the CLI gets credit for what the slowest node has taken.
    const grantCredit = (): void => {
      const live = [...runs.values()];
      const floor = live.length === 0 ? sent : Math.min(...live.map((r) => (r.done ? sent : r.acked)));
      if (floor > credited) {
        send({ type: 'credit', bytes: floor - credited });
        credited = floor;
      }
    };
    const start = (session: AgentSession): void => {
      const sessionId = randomUUID();
      const run: NodeRun = { sessionId, agentId: session.agentId, host: session.hostname, startedAt: Date.now(), acked: 0, done: false };
      runs.set(sessionId, run);
      const shell = request!.mode === 'shell';
      const account = shell ? { name: 'root', uid: 0, gid: 0, home: '/root' } : { name: who.account.user, uid: who.account.uid, gid: who.account.gid, home: who.account.home };
      const argv = shell ? ['/bin/sh', '-c', 'shell=$(getent passwd root | cut -d: -f7); [ -x "$shell" ] || shell=/bin/sh; exec "$shell" -l'] : request!.argv;
      if (shell) this.log.warn({ audit: 'root-shell', user: who.user, uid: who.account.uid, via: who.via, host: session.hostname, session: sessionId, at: new Date().toISOString() }, `root shell on ${session.hostname} opened by ${who.user}`);
      if (!this.hub.sendTo(session.agentId, { type: 'session-open', sessionId, user: account, argv, tty: request!.tty })) return finish(run, 255, `host ${session.hostname} disconnected`);
      // Nothing will be typed into a plain exec: its stdin ends at once (as ssh -n).
      if (!request!.input && request!.tty === null) this.hub.sendTo(session.agentId, { type: 'session-eof', sessionId });
    };
    const finish = (run: NodeRun, exitStatus: number, reason: string): void => {
      if (run.done) return;
      run.done = true;
      send({ type: 'exit', host: run.host, exitStatus, reason, ms: Date.now() - run.startedAt });
      if (request?.mode === 'shell') this.log.warn({ audit: 'root-shell', user: who.user, host: run.host, session: run.sessionId, exitStatus, at: new Date().toISOString() }, `root shell on ${run.host} of ${who.user} closed`);
      grantCredit();
      const next = waiting.shift();
      if (next) start(next);
      else if ([...runs.values()].every((r) => r.done)) {
        send({ type: 'done' });
        ws.close(1000, 'done');
      }
    };
    on('session:output', (sessionId: string, agentId: string, stream: 'stdout' | 'stderr', data: Buffer) => {
      const run = mine(sessionId, agentId);
      if (run) send({ type: 'output', host: run.host, stream, data: data.toString('base64') });
    });
    on('session:exit', (sessionId: string, agentId: string, exit: { exitStatus: number; reason: string }) => {
      const run = mine(sessionId, agentId);
      if (run) finish(run, exit.exitStatus, exit.reason);
    });
    on('session:input-written', (sessionId: string, agentId: string, bytes: number) => {
      const run = mine(sessionId, agentId);
      if (!run) return;
      run.acked = Math.min(sent, run.acked + bytes);
      grantCredit();
    });
    on('host:offline', (agentId: string) => {
      for (const run of runs.values()) if (run.agentId === agentId) finish(run, 255, `host ${run.host} disconnected`);
    });

    ws.on('message', (data: RawData, isBinary: boolean) => {
      let frame: NodeClientFrame;
      try {
        if (isBinary) throw new Error('binary frames are not part of the protocol');
        frame = nodeClientFrame.parse(JSON.parse(data.toString()));
      } catch (err) {
        return fail(`invalid frame: ${(err as Error).message}`);
      }
      if (frame.type === 'open') {
        if (request) return fail('"open" was sent twice');
        request = frame;
        const refusal = this.refusal(frame, who);
        if (refusal) return fail(refusal);
        const targets = this.targets(frame);
        if (targets.length === 0) return fail(frame.hosts.length > 0 ? `no connected host named ${frame.hosts.join(', ')}` : `no connected hosts${frame.group ? ` in group ${frame.group}` : ''}`);
        send({ type: 'targets', hosts: targets.map((s) => s.hostname) });
        const parallel = frame.input ? targets.length : frame.parallel;
        targets.slice(parallel).forEach((s) => waiting.push(s));
        for (const s of targets.slice(0, parallel)) start(s);
        return;
      }
      if (!request) return fail('the first frame must be "open"');
      if (frame.type === 'input') {
        const bytes = Buffer.byteLength(frame.data, 'base64');
        sent += bytes;
        if (sent - credited > InteractiveLimits.inputWindowBytes) return fail(`more than ${InteractiveLimits.inputWindowBytes} bytes of input in flight: wait for credit`);
      }
      for (const run of runs.values()) {
        if (run.done) continue;
        if (frame.type === 'input') this.hub.sendTo(run.agentId, { type: 'session-input', sessionId: run.sessionId, data: frame.data });
        else if (frame.type === 'resize') this.hub.sendTo(run.agentId, { type: 'session-resize', sessionId: run.sessionId, size: frame.size });
        else this.hub.sendTo(run.agentId, { type: 'session-eof', sessionId: run.sessionId });
      }
      grantCredit();
    });
    ws.on('close', () => {
      for (const off of listeners.splice(0)) off();
      waiting.length = 0;
      for (const run of runs.values()) {
        if (!run.done) this.hub.sendTo(run.agentId, { type: 'session-hangup', sessionId: run.sessionId, reason: `the client of ${who.user} disconnected` });
        if (!run.done && request?.mode === 'shell') this.log.warn({ audit: 'root-shell', user: who.user, host: run.host, session: run.sessionId, at: new Date().toISOString() }, `root shell on ${run.host} of ${who.user}: client disconnected, hanging up`);
      }
    });
    ws.on('error', (err) => this.log.warn({ user: who.user, err: err.message }, 'node session socket error'));
  }

  private refusal(request: NodeSessionRequest, who: Identity): string | undefined {
    if (request.mode === 'shell') {
      if (!who.mayActOnAll) {
        this.log.warn({ audit: 'root-shell', user: who.user, hosts: request.hosts, at: new Date().toISOString() }, `root shell refused to ${who.user}: not an administrator`);
        return `${who.user} may not open a root shell on a node: only root and managers may`;
      }
      if (request.hosts.length !== 1) return 'qfarm shell needs exactly one host';
      return undefined;
    }
    if (request.argv.length === 0) return 'no command given';
    return undefined;
  }

  private targets(request: NodeSessionRequest): AgentSession[] {
    const wanted = new Set(request.hosts);
    return this.hub
      .sessionsList()
      .filter((s) => (wanted.size === 0 || wanted.has(s.hostname)) && (request.group === null || s.group === request.group))
      .sort((a, b) => a.hostname.localeCompare(b.hostname));
  }
}
