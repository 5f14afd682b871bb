import type { WebSocket } from 'ws';
import type { HostInventory, MasterMessage } from '../protocol/agent-messages.js';

/** What the master knows of one connected agent, in memory. */
export class AgentSession {
  /** Active attempts on this agent → slots each occupies. */
  readonly attempts = new Map<string, { jobId: number; taskId: number; slots: number }>();
  load1 = 0;
  memUsedBytes = 0;
  swapUsedBytes = 0;
  lastFrameAt: number;
  draining = false;

  constructor(
    readonly ws: WebSocket,
    /** The inventory from this connection's hello (never the whole hello: see hostInventory). */
    readonly hello: HostInventory,
    /** The peer address, for logs about this connection. */
    readonly remote: string,
    now: number,
  ) {
    this.lastFrameAt = now;
  }

  get agentId(): string {
    return this.hello.agentId;
  }
  get hostname(): string {
    return this.hello.hostname;
  }
  get group(): string {
    return this.hello.group;
  }

  /**
   * Open and heard from within 3 heartbeats: such a connection keeps its agent id against a
   * second hello. A dead one (closed, or silent: a vanished VM sends no FIN) gives it up.
   */
  isAlive(now: number, heartbeatMs: number): boolean {
    return this.ws.readyState === this.ws.OPEN && now - this.lastFrameAt <= 3 * heartbeatMs;
  }

  usedSlots(): number {
    let used = 0;
    for (const a of this.attempts.values()) used += a.slots;
    return used;
  }

  freeSlots(): number {
    return this.draining ? 0 : Math.max(0, this.hello.slots - this.usedSlots());
  }

  send(message: MasterMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }
}
