import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { agentMessage, type AgentMessage, type TaskAssignment } from '../../protocol/agent-messages.js';
import { CloseCode, PROTOCOL_VERSION } from '../../protocol/version.js';
import { spawnTs } from './spawn-ts.js';

/**
 * A fake master for agent tests: a real WebSocket server that checks the token like the master
 * must, validates every frame the agent sends (an invalid one fails the test) and lets the test
 * script the master's side.
 */
export class FakeMaster {
  readonly connections: FakeAgentLink[] = [];
  private waiters: Array<(c: FakeAgentLink) => void> = [];

  private constructor(
    readonly wss: WebSocketServer,
    readonly url: string,
    readonly token: string,
  ) {}

  /**
   * `rejectBadTokenWith`: how a wrong token is refused — at the HTTP upgrade with 401 (what the
   * real master does) or by accepting and closing with CloseCode.Unauthorized (also allowed).
   */
  static async start(token = 'secret-agent-token', opts: { rejectBadTokenWith?: 'http-401' | 'close-4401' } = {}): Promise<FakeMaster> {
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      path: '/agent',
      ...(opts.rejectBadTokenWith === 'http-401'
        ? { verifyClient: (info: { req: IncomingMessage }) => info.req.headers.authorization === `Bearer ${token}` }
        : {}),
    });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    const port = (wss.address() as { port: number }).port;
    const master = new FakeMaster(wss, `http://127.0.0.1:${port}`, token);
    wss.on('connection', (ws, req) => master.accept(ws, req));
    return master;
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      ws.close(CloseCode.Unauthorized, 'bad agent token');
      return;
    }
    const link = new FakeAgentLink(ws);
    this.connections.push(link);
    for (const w of this.waiters.splice(0)) w(link);
  }

  /** The next agent connection (or an already open one not yet taken, by index). */
  connection(index: number, timeoutMs = 15_000): Promise<FakeAgentLink> {
    const existing = this.connections[index];
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no agent connection #${index} within ${timeoutMs} ms`)), timeoutMs);
      const check = (): void => {
        const c = this.connections[index];
        if (c) {
          clearTimeout(timer);
          resolve(c);
        } else this.waiters.push(check);
      };
      check();
    });
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

export class FakeAgentLink {
  readonly frames: AgentMessage[] = [];
  readonly invalid: string[] = [];
  private waiters: Array<() => void> = [];
  closed = false;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const text = data.toString();
      try {
        this.frames.push(agentMessage.parse(JSON.parse(text)));
      } catch (err) {
        this.invalid.push(`${(err as Error).message}: ${text.slice(0, 200)}`);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  welcome(cancel: string[] = [], heartbeatMs = 1000): void {
    this.send({ type: 'welcome', protocolVersion: PROTOCOL_VERSION, hostname: 'fake-master', heartbeatMs, cancel });
  }

  /** Waits for the first frame (from `from` on) matching pred. */
  waitFor<T extends AgentMessage>(pred: (f: AgentMessage) => f is T, timeoutMs?: number, from?: number): Promise<T>;
  waitFor(pred: (f: AgentMessage) => boolean, timeoutMs?: number, from?: number): Promise<AgentMessage>;
  waitFor(pred: (f: AgentMessage) => boolean, timeoutMs = 15_000, from = 0): Promise<AgentMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`frame not seen within ${timeoutMs} ms; got ${JSON.stringify(this.frames.map((f) => f.type))}`)),
        timeoutMs,
      );
      const check = (): void => {
        const found = this.frames.slice(from).find(pred);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        } else if (this.closed) {
          clearTimeout(timer);
          reject(new Error(`connection closed before the frame came; got ${JSON.stringify(this.frames.map((f) => f.type))}`));
        } else this.waiters.push(check);
      };
      check();
    });
  }

  finished(attemptId: string, timeoutMs?: number): Promise<Extract<AgentMessage, { type: 'finished' }>> {
    return this.waitFor((f): f is Extract<AgentMessage, { type: 'finished' }> => f.type === 'finished' && f.attemptId === attemptId, timeoutMs);
  }

  /** Output of an attempt so far, per stream, decoded, in seq order without duplicates. */
  output(attemptId: string, stream?: 'stdout' | 'stderr'): string {
    const seen = new Map<number, string>();
    for (const f of this.frames) {
      if (f.type === 'output' && f.attemptId === attemptId && (!stream || f.stream === stream)) seen.set(f.seq, f.data);
    }
    return [...seen.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([, d]) => Buffer.from(d, 'base64').toString())
      .join('');
  }
}

/** A running agent child process with its stderr captured. */
export interface AgentProcess {
  child: ChildProcess;
  stateDir: string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

export async function startAgent(
  master: FakeMaster,
  extraArgs: string[] = [],
  opts: { token?: string; uid?: number; gid?: number; stateDir?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<AgentProcess> {
  const stateDir = opts.stateDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-agent-test-')));
  if (opts.uid !== undefined) await fs.chown(stateDir, opts.uid, opts.gid ?? opts.uid);
  const child = spawnTs('agent/main.ts', [
    '--master', master.url,
    // A token given in env (QFARM_AGENT_TOKEN) stays out of argv, which every user can read.
    ...(opts.env?.QFARM_AGENT_TOKEN === undefined ? ['--token', opts.token ?? master.token] : []),
    '--name', 'testhost',
    '--slots', '4',
    '--state-dir', stateDir,
    '--reconnect-max-ms', '300',
    '--kill-grace-ms', '500',
    '--log-level', 'debug',
    ...extraArgs,
  ], { ...(opts.env ? { env: opts.env } : {}), ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.gid ?? opts.uid }) });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stateDir,
    stderr: () => err,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      await fs.rm(stateDir, { recursive: true, force: true });
    },
  };
}

let attemptCounter = 0;

/** An assignment with sensible defaults, as the master would send it. */
export function assignment(over: Partial<TaskAssignment> & { cwd: string }): TaskAssignment {
  attemptCounter++;
  const jobId = over.jobId ?? 100 + attemptCounter;
  const taskId = over.taskId === undefined ? null : over.taskId;
  const jobName = over.jobName ?? 'testjob';
  return {
    type: 'assign',
    attemptId: `a-${process.pid}-${attemptCounter}`,
    jobId,
    taskId,
    jobName,
    user: { name: 'root', uid: 0, gid: 0, home: '/root' },
    command: { kind: 'binary', argv: ['/bin/true'] },
    shell: '/bin/sh',
    env: {
      JOB_ID: String(jobId),
      JOB_NAME: jobName,
      SGE_TASK_ID: taskId === null ? 'undefined' : String(taskId),
      NSLOTS: '1',
      PATH: '/usr/local/bin:/usr/bin:/bin',
    },
    stdoutPath: '',
    stderrPath: '',
    joinOutput: false,
    pty: false,
    slots: 1,
    wallclockSeconds: null,
    vmemBytes: null,
    ...over,
  };
}

/** A fake master with a real agent connected to it, its hello read; both stopped when the test ends. */
export async function agentOnFakeMaster(t: { teardown(fn: () => Promise<void>): void }, args: string[] = []) {
  const master = await FakeMaster.start();
  const agent = await startAgent(master, args);
  t.teardown(async () => {
    await agent.stop();
    await master.close();
  });
  const link = await master.connection(0);
  await link.waitFor((f) => f.type === 'hello');
  return { master, agent, link };
}
