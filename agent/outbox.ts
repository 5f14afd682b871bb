import type { TaskFinished, TaskOutput, TaskStarted, OutputStream } from '../protocol/agent-messages.js';

/** A frame the master must receive at least once. */
export type DurableFrame = TaskStarted | TaskOutput | TaskFinished;

/** An attempt's frames, kept until the master acknowledges its result. */
export interface KeptAttempt {
  started: TaskStarted | undefined;
  output: TaskOutput[];
  finished: TaskFinished;
}

interface AttemptBox {
  started: TaskStarted | undefined;
  output: TaskOutput[];
  /** Raw byte size of each kept chunk, parallel to `output`. */
  sizes: number[];
  outputBytes: number;
  nextSeq: number;
  dropped: number;
  finished: TaskFinished | undefined;
  /** What went out on the current connection: `started`, outputs below this seq, `finished`. */
  sentStarted: boolean;
  sentSeq: number;
  sentFinished: boolean;
}

/** Something the outbox wants logged (output dropped because the buffer was full). */
export interface OutboxWarning {
  attemptId: string;
  droppedChunks: number;
  limitBytes: number;
}

/**
 * Frames that must survive a lost connection, per attempt, until the master acknowledges the
 * attempt's result: `started`, every `output` chunk (numbered per attempt from 0 so the master can
 * drop replays), and `finished`. An attempt's output is bounded; past the bound the oldest chunks
 * are dropped (the master sees a gap in seq) — `started` and `finished` are never dropped.
 * Replay order is each attempt's frames in the order they were produced.
 *
 * The outbox also tracks what was sent on the current connection, so the agent can hold frames
 * back while the socket's send buffer is full (a task printing faster than the network) and
 * send them later in order; `connectionReset` marks everything unsent for a replay.
 */
export class Outbox {
  private readonly boxes = new Map<string, AttemptBox>();

  constructor(
    private readonly maxOutputBytesPerAttempt: number,
    private readonly warn: (w: OutboxWarning) => void,
  ) {}

  private box(attemptId: string): AttemptBox {
    let box = this.boxes.get(attemptId);
    if (!box) {
      box = { started: undefined, output: [], sizes: [], outputBytes: 0, nextSeq: 0, dropped: 0, finished: undefined, sentStarted: false, sentSeq: 0, sentFinished: false };
      this.boxes.set(attemptId, box);
    }
    return box;
  }

  started(frame: TaskStarted): TaskStarted {
    this.box(frame.attemptId).started = frame;
    return frame;
  }

  /** Numbers and keeps one chunk; returns the frame to send now. */
  output(attemptId: string, stream: OutputStream, data: Buffer): TaskOutput {
    const box = this.box(attemptId);
    const frame: TaskOutput = { type: 'output', attemptId, stream, seq: box.nextSeq++, data: data.toString('base64') };
    box.output.push(frame);
    box.sizes.push(data.length);
    box.outputBytes += data.length;
    let dropped = 0;
    while (box.outputBytes > this.maxOutputBytesPerAttempt && box.output.length > 1) {
      box.output.shift();
      box.outputBytes -= box.sizes.shift()!;
      dropped++;
    }
    if (dropped > 0) {
      // Warn once per attempt, then every 1000 drops, so a chatty task cannot flood the log.
      if (box.dropped === 0 || Math.floor((box.dropped + dropped) / 1000) > Math.floor(box.dropped / 1000)) {
        this.warn({ attemptId, droppedChunks: box.dropped + dropped, limitBytes: this.maxOutputBytesPerAttempt });
      }
      box.dropped += dropped;
    }
    return frame;
  }

  finished(frame: TaskFinished): TaskFinished {
    this.box(frame.attemptId).finished = frame;
    return frame;
  }

  /**
   * Everything kept for one attempt (`started`, its kept output, `finished`), for the result
   * store: a successor agent process replays it all, not only `finished`, so output produced
   * while the master was unreachable is not lost with the process.
   */
  kept(attemptId: string): KeptAttempt | undefined {
    const box = this.boxes.get(attemptId);
    if (!box?.finished) return undefined;
    return { started: box.started, output: [...box.output], finished: box.finished };
  }

  /** Takes back what a previous agent process kept (from the result store), seq numbers as they were. */
  restore(kept: KeptAttempt): void {
    const box = this.box(kept.finished.attemptId);
    box.started = kept.started;
    for (const frame of kept.output) {
      box.output.push(frame);
      const size = Buffer.byteLength(frame.data, 'base64');
      box.sizes.push(size);
      box.outputBytes += size;
      box.nextSeq = Math.max(box.nextSeq, frame.seq + 1);
    }
    box.finished = kept.finished;
  }

  /** The master committed the result: forget the attempt. Returns false if there was no result to ack. */
  ack(attemptId: string): boolean {
    const box = this.boxes.get(attemptId);
    if (!box?.finished) return false;
    this.boxes.delete(attemptId);
    return true;
  }

  /** The master no longer wants this attempt (welcome.cancel): drop everything, result included. */
  drop(attemptId: string): void {
    this.boxes.delete(attemptId);
  }

  /** Attempts holding a result the master has not acknowledged. */
  unackedResults(): string[] {
    return [...this.boxes.entries()].filter(([, b]) => b.finished).map(([id]) => id);
  }

  has(attemptId: string): boolean {
    return this.boxes.has(attemptId);
  }

  /** A new connection: nothing has been sent on it yet. */
  connectionReset(): void {
    for (const box of this.boxes.values()) {
      box.sentStarted = false;
      box.sentSeq = 0;
      box.sentFinished = false;
    }
  }

  /** Frames not yet sent on this connection, each attempt's in order (`finished` only after all its output). */
  unsent(attemptId?: string): DurableFrame[] {
    const out: DurableFrame[] = [];
    const boxes = attemptId === undefined ? this.boxes.values() : [this.boxes.get(attemptId)].filter((b) => b !== undefined);
    for (const box of boxes) {
      if (box.started && !box.sentStarted) out.push(box.started);
      for (const frame of box.output) if (frame.seq >= box.sentSeq) out.push(frame);
      if (box.finished && !box.sentFinished) out.push(box.finished);
    }
    return out;
  }

  markSent(frame: DurableFrame): void {
    const box = this.boxes.get(frame.attemptId);
    if (!box) return;
    if (frame.type === 'started') box.sentStarted = true;
    else if (frame.type === 'output') box.sentSeq = Math.max(box.sentSeq, frame.seq + 1);
    else box.sentFinished = true;
  }

  /** Everything still unacknowledged, each attempt's frames in original order. */
  *replay(): Generator<DurableFrame> {
    for (const box of this.boxes.values()) {
      if (box.started) yield box.started;
      yield* box.output;
      if (box.finished) yield box.finished;
    }
  }
}
