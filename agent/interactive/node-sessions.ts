import { spawn } from 'node:child_process';
import os from 'node:os';
import pty from 'node-pty';
import type { Logger } from 'pino';
import type { AgentMessage, SessionOpen } from '../../protocol/agent-messages.js';
import { InteractiveLimits } from '../../protocol/interactive-limits.js';
import { helperEnvironment, launchAsUser } from '../as-user.js';
import { OutputBatcher } from '../output-batcher.js';
import type { GroupSetup } from '../supplementary-groups.js';
import { TaskInput, type InputTarget } from './task-input.js';

export interface NodeSessionsDeps {
  send(frame: AgentMessage): boolean;
  /** The link to the master is backed up: output waits (the process is paused). */
  backedUp(): boolean;
  groups: GroupSetup | undefined;
  killGraceMs: number;
  log: Logger;
}

/**
 * The user's side starts in their home, entered as the user (never by root): the root half
 * only switches uid (setpriv, or spawn's own switch) with the minimal helper environment.
 */
const ENTER_HOME = ['/bin/sh', '-c', 'cd "$HOME" 2>/dev/null || cd /; exec "$@"', 'qfarm-session'];

interface Running {
  pid: number;
  input: TaskInput;
  pause(): void;
  resume(): void;
  hangupTimer?: NodeJS.Timeout;
}

const signalName = (num: number): string | null => Object.entries(os.constants.signals).find(([, n]) => n === num)?.[0] ?? null;
const signalNumber = (name: string | null): number => (name ? ((os.constants.signals as Record<string, number>)[name] ?? 0) : 0);

/**
 * `qfarm exec`, `qfarm shell` and `qfarm push` on this node: a process as the user the master
 * named (the caller, root only for root or an audited admin shell), in a pty or through pipes,
 * in its own process group so a hang-up reaches all of it. Bounded in number per agent.
 */
export class NodeSessions {
  private readonly sessions = new Map<string, Running>();

  constructor(private readonly deps: NodeSessionsDeps) {}

  input(sessionId: string): TaskInput | undefined {
    return this.sessions.get(sessionId)?.input;
  }

  open(msg: SessionOpen): void {
    const { sessionId } = msg;
    const exit = (exitStatus: number, signal: string | null, reason: string): void =>
      void this.deps.send({ type: 'session-exit', sessionId, exitStatus, signal, reason });
    if (this.sessions.has(sessionId)) return;
    if (this.sessions.size >= InteractiveLimits.sessionsPerAgent) {
      return exit(1, null, `this node already runs ${InteractiveLimits.sessionsPerAgent} sessions; try again later`);
    }
    const log = this.deps.log.child({ session: sessionId, user: msg.user.name });
    const launch = launchAsUser([...ENTER_HOME, ...msg.argv], msg.user, msg.user.uid === process.getuid?.() ? undefined : this.deps.groups);
    const env = { ...helperEnvironment(msg.user), ...(msg.tty ? { TERM: 'xterm' } : {}) };
    const ids = launch.uid === undefined ? {} : { uid: launch.uid, gid: launch.gid };
    const batcher = new OutputBatcher((stream, data) => void this.deps.send({ type: 'session-output', sessionId, stream, data: data.toString('base64') }), 20, InteractiveLimits.chunkBytes);
    const input = new TaskInput((bytes) => void this.deps.send({ type: 'session-ack', sessionId, bytes }), log);
    const finish = (code: number | null, signal: string | null): void => {
      batcher.flush();
      input.close();
      const running = this.sessions.get(sessionId);
      clearTimeout(running?.hangupTimer);
      this.sessions.delete(sessionId);
      exit(code ?? Math.min(255, 128 + signalNumber(signal)), signal, '');
    };
    try {
      if (msg.tty) {
        const proc = pty.spawn(launch.argv[0]!, launch.argv.slice(1), { name: 'xterm', cols: msg.tty.cols, rows: msg.tty.rows, cwd: '/', env, encoding: null, ...ids });
        proc.onData((d: string | Buffer) => this.output(batcher, 'stdout', Buffer.isBuffer(d) ? d : Buffer.from(d), proc));
        const target: InputTarget = { write: (d, written) => (proc.write(d), written()), end: () => proc.write('\x04'), resize: (s) => proc.resize(s.cols, s.rows) };
        input.attach(target);
        this.sessions.set(sessionId, { pid: proc.pid, input, pause: () => proc.pause(), resume: () => proc.resume() });
        proc.onExit(({ exitCode, signal }) => finish(signal ? null : exitCode, signal ? signalName(signal) : null));
      } else {
        const child = spawn(launch.argv[0]!, launch.argv.slice(1), { cwd: '/', env, detached: true, stdio: ['pipe', 'pipe', 'pipe'], ...ids });
        child.stdin!.on('error', () => undefined); // EPIPE: the command did not read all its input
        child.stdout!.on('data', (d: Buffer) => this.output(batcher, 'stdout', d, child.stdout!));
        child.stderr!.on('data', (d: Buffer) => this.output(batcher, 'stderr', d, child.stderr!));
        child.once('error', (err) => {
          this.sessions.delete(sessionId);
          exit(127, null, `cannot start ${msg.argv[0]} as ${msg.user.name}: ${err.message}`);
        });
        child.once('close', (code, signal) => finish(code, signal));
        input.attach({ write: (d, written) => void child.stdin!.write(d, () => written()), end: () => child.stdin!.end(), resize: () => undefined });
        this.sessions.set(sessionId, { pid: child.pid!, input, pause: () => undefined, resume: () => undefined });
      }
      log.info({ argv: msg.argv.slice(0, 8), tty: msg.tty !== null }, 'node session started');
    } catch (err) {
      exit(127, null, `cannot start ${msg.argv[0]} as ${msg.user.name}: ${(err as Error).message}`);
    }
  }

  /** SIGHUP to the session's process group, SIGKILL after the grace period; false when unknown. */
  hangup(sessionId: string): boolean {
    const running = this.sessions.get(sessionId);
    if (!running) return false;
    const signal = (sig: NodeJS.Signals): void => {
      try {
        process.kill(-running.pid, sig);
      } catch {
        // The group is gone already.
      }
    };
    signal('SIGHUP');
    running.resume();
    running.hangupTimer ??= setTimeout(() => signal('SIGKILL'), this.deps.killGraceMs);
    return true;
  }

  /** The master is gone: nobody is at the other end of any session. */
  hangupAll(): void {
    for (const id of this.sessions.keys()) this.hangup(id);
  }

  /** Output waits while the link is backed up: the process is paused, never buffered without bound. */
  private output(batcher: OutputBatcher, stream: 'stdout' | 'stderr', data: Buffer, source: { pause(): void; resume(): void }): void {
    batcher.push(stream, data);
    if (!this.deps.backedUp()) return;
    source.pause();
    const retry = (): void => {
      if (this.deps.backedUp()) setTimeout(retry, 50);
      else source.resume();
    };
    setTimeout(retry, 50);
  }
}
