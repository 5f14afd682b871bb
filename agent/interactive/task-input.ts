import type { Logger } from 'pino';
import { InteractiveLimits, type WindowSize } from '../../protocol/interactive-limits.js';

/** Where an interactive task's input goes once its process runs: a pty or its stdin pipe. */
export interface InputTarget {
  /** Calls `written` once the bytes are handed to the kernel. */
  write(data: Buffer, written: () => void): void;
  /** Pipes: closes stdin. Pty: sends the terminal's end-of-file character (^D). */
  end(): void;
  resize(size: WindowSize): void;
}

/**
 * The input side of an interactive task (qrsh/qlogin). Input that arrives before the process
 * started waits here; the master never has more than the input window in flight, so neither
 * does this buffer: more is a broken master and is dropped with a warning.
 */
export class TaskInput {
  private target: InputTarget | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private eof = false;
  private size: WindowSize | undefined;
  private closed = false;

  constructor(
    /** Bytes written to the task: the master turns them into credit for the CLI. */
    private readonly written: (bytes: number) => void,
    private readonly log: Logger,
  ) {}

  attach(target: InputTarget): void {
    if (this.closed) return;
    this.target = target;
    if (this.size) target.resize(this.size);
    for (const chunk of this.pending.splice(0)) this.deliver(chunk);
    this.pendingBytes = 0;
    if (this.eof) target.end();
  }

  write(data: Buffer): void {
    if (this.closed || this.eof) return;
    if (this.target) return this.deliver(data);
    if (this.pendingBytes + data.length > InteractiveLimits.inputWindowBytes) {
      this.log.warn({ bytes: data.length, pending: this.pendingBytes }, 'interactive input beyond the input window before the task started; dropped');
      return;
    }
    this.pending.push(data);
    this.pendingBytes += data.length;
  }

  resize(size: WindowSize): void {
    this.size = size;
    this.target?.resize(size);
  }

  end(): void {
    if (this.eof) return;
    this.eof = true;
    this.target?.end();
  }

  /** The process has ended: nothing more is written. */
  close(): void {
    this.closed = true;
    this.target = undefined;
    this.pending = [];
  }

  private deliver(data: Buffer): void {
    this.target!.write(data, () => this.written(data.length));
  }
}
