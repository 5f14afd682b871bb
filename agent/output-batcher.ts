import type { OutputStream } from '../protocol/agent-messages.js';

/**
 * Coalesces a task's small writes into fewer `output` frames (a renderer printing progress every
 * few milliseconds would otherwise send thousands of frames), without reordering: switching
 * stream flushes the other stream first, so chunk order matches the order the bytes arrived.
 */
export class OutputBatcher {
  private stream: OutputStream | undefined;
  private parts: Buffer[] = [];
  private size = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly emit: (stream: OutputStream, data: Buffer) => void,
    /** Longest a byte waits before it is sent. @default 50 */
    private readonly maxDelayMs = 50,
    /** Largest chunk. @default 64 KiB */
    private readonly maxChunkBytes = 64 * 1024,
  ) {}

  push(stream: OutputStream, data: Buffer): void {
    if (this.stream !== undefined && this.stream !== stream) this.flush();
    this.stream = stream;
    let rest = data;
    while (rest.length > 0) {
      const take = rest.subarray(0, this.maxChunkBytes - this.size);
      this.parts.push(take);
      this.size += take.length;
      rest = rest.subarray(take.length);
      if (this.size >= this.maxChunkBytes) this.flush();
    }
    if (this.size > 0) this.timer ??= setTimeout(() => this.flush(), this.maxDelayMs);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.size === 0 || this.stream === undefined) return;
    const data = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    const stream = this.stream;
    this.parts = [];
    this.size = 0;
    this.emit(stream, data);
  }
}
