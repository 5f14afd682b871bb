import type { WebSocket } from 'ws';
import type { HostInventory, MasterMessage } from '../protocol/agent-messages.js';

/** An attempt on an agent and the slots it holds (0 once its process ended and only its upload runs). */
export interface AttemptSlots {
  jobId: number;
  taskId: number;
  slots: number;
}

/**
 * What the master knows of one connected agent, in memory. Its free slots change only through
 * the methods here, which tell the hub (`onSlotsChanged`): the scheduler looks only at agents
 * with a free slot instead of every connected agent on every pass.
 */
export class AgentSession {
  /** Active attempts on this agent → slots each occupies. */
  private readonly live = new Map<string, AttemptSlots>();
  private drainingNow = false;
  load1 = 0;
  memUsedBytes = 0;
  swapUsedBytes = 0;
  lastFrameAt: number;
  /** The heartbeat interval this agent was told (welcome, then pace frames). */
  heartbeatMs = 0;
  /** Silent this long, the agent is taken for gone: 3 intervals (of the longer one while a new pace travels). */
  silenceLimitMs = 0;
  /** When hosts.last_seen was last written for this agent (its hello writes it). */
  lastSeenStoredAt: number;
  /** Set by the hub that holds this session. */
  onSlotsChanged: (session: AgentSession) => void = () => {};
  private corked = false;

  constructor(
    readonly ws: WebSocket,
    /** The inventory from this connection's hello (never the whole hello: see hostInventory). */
    readonly hello: HostInventory,
    /** The peer address, for logs about this connection. */
    readonly remote: string,
    now: number,
    /**
     * The connection's socket, to gather the frames sent to this agent in one go (a result's ack
     * and the next assignment, sent after the same commit) into one write.
     */
    private readonly socket?: { cork(): void; uncork(): void },
  ) {
    this.lastFrameAt = now;
    this.lastSeenStoredAt = now;
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
  isAlive(now: number): boolean {
    return this.isOpen() && now - this.lastFrameAt <= this.silenceLimitMs;
  }

  /** The interval the agent's welcome tells it (sent by the hub with the welcome). */
  welcomedWith(heartbeatMs: number): void {
    this.expectHeartbeatsEvery(heartbeatMs);
  }

  /** Tells the agent its heartbeat interval from now on, in a pace frame. */
  pace(heartbeatMs: number): void {
    this.expectHeartbeatsEvery(heartbeatMs);
    this.send({ type: 'pace', heartbeatMs });
  }

  /** Silent for 3 intervals, the agent is gone: of the longer one while a new pace is on its way. */
  private expectHeartbeatsEvery(heartbeatMs: number): void {
    this.silenceLimitMs = 3 * Math.max(heartbeatMs, this.heartbeatMs);
    this.heartbeatMs = heartbeatMs;
  }

  get attempts(): ReadonlyMap<string, Readonly<AttemptSlots>> {
    return this.live;
  }

  /** Draining: takes no new work (a drain frame, or a hello that says so). */
  get draining(): boolean {
    return this.drainingNow;
  }

  drain(): void {
    if (this.drainingNow) return;
    this.drainingNow = true;
    this.onSlotsChanged(this);
  }

  addAttempt(attemptId: string, attempt: AttemptSlots): void {
    this.live.set(attemptId, { ...attempt });
    this.onSlotsChanged(this);
  }

  removeAttempt(attemptId: string): void {
    if (this.live.delete(attemptId)) this.onSlotsChanged(this);
  }

  /** The attempt's process ended and only its outputs are in flight: its slots are free. False if it held none. */
  releaseSlots(attemptId: string): boolean {
    const attempt = this.live.get(attemptId);
    if (!attempt || attempt.slots === 0) return false;
    attempt.slots = 0;
    this.onSlotsChanged(this);
    return true;
  }

  usedSlots(): number {
    let used = 0;
    for (const a of this.live.values()) used += a.slots;
    return used;
  }

  freeSlots(): number {
    return this.draining ? 0 : Math.max(0, this.hello.slots - this.usedSlots());
  }

  /** Dropped when the connection is closed (not serialized first). */
  send(message: MasterMessage): void {
    if (this.isOpen()) this.write(JSON.stringify(message));
  }

  /** A MasterMessage serialized already (an assignment: assignment-text.ts); dropped when the connection is closed. */
  sendSerialized(json: string): void {
    if (this.isOpen()) this.write(json);
  }

  private isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  private write(json: string): void {
    if (this.socket && !this.corked) {
      // Node's idiom for batching writes: corked until the code running now is done. One write
      // a turn instead of one per frame (a system call, ~15 µs, was 8 % of the master's time).
      this.corked = true;
      this.socket.cork();
      queueMicrotask(() => {
        this.corked = false;
        this.socket!.uncork();
      });
    }
    this.ws.send(json);
  }
}
