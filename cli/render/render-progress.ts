import { progressLine, type RenderStatus } from './render-status.js';

/**
 * Progress of `render submit --wait/--download` while it waits: one line every few seconds
 * (only when something changed) into a log or pipe, one line rewritten in place on a terminal,
 * with an ETA from the pace so far. Work is counted in frames written (or done), and for a
 * tiled render in tiles plus stitched frames, so a long chunk shows progress before it ends.
 */

/** At most one line this often when the output is not a terminal. */
export const PROGRESS_INTERVAL_MS = 5_000;

export interface ProgressSink {
  write: (text: string) => void;
  /** A terminal: rewrite one line with `\r` instead of printing lines. */
  tty: boolean;
  now?: () => number;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Units of work done and to do: frames, or tiles plus stitched frames for a tiled render. */
export function workOf(status: RenderStatus): { done: number; total: number } {
  if (status.tiles !== null && status.stitch !== null) {
    return { done: status.tiles.done + status.stitch.done, total: status.tiles.total + status.stitch.total };
  }
  return { done: Math.max(status.doneFrames.length, status.writtenFrames?.length ?? 0), total: status.totalFrames };
}

export class RenderProgress {
  private readonly now: () => number;
  private readonly started: number;
  /** Work done when waiting began: nothing, right after the submit. */
  private readonly startWork = 0;
  private lastLine = '';
  private lastPrinted = -Infinity;
  private open = false;

  constructor(private readonly sink: ProgressSink) {
    this.now = sink.now ?? Date.now;
    this.started = this.now();
  }

  /** The progress line for this status (elapsed, ETA from the pace since waiting began). */
  line(status: RenderStatus): string {
    const work = workOf(status);
    const elapsed = this.now() - this.started;
    const gained = work.done - this.startWork;
    const remaining = work.total - work.done;
    const eta = remaining <= 0 ? 'finishing' : gained > 0 ? `ETA ${formatDuration((elapsed / gained) * remaining)}` : 'ETA unknown yet';
    const failed = status.failedFrames.length > 0 ? `, ${status.failedFrames.length} failed` : '';
    const written = progressLine(status);
    return `qfarm render: job ${status.renderJobId}: ${status.doneFrames.length}/${status.totalFrames} frames done${failed}${written === '' ? '' : `; ${written}`}; ${formatDuration(elapsed)} elapsed, ${eta}`;
  }

  report(status: RenderStatus): void {
    const line = this.line(status);
    if (this.sink.tty) {
      this.sink.write(`\r${line}\x1b[K`);
      this.open = true;
      return;
    }
    const at = this.now();
    const changed = line.replace(/; [^;]*elapsed.*$/, '') !== this.lastLine.replace(/; [^;]*elapsed.*$/, '');
    if (!changed || at - this.lastPrinted < PROGRESS_INTERVAL_MS) return;
    this.sink.write(`${line}\n`);
    this.lastLine = line;
    this.lastPrinted = at;
  }

  /** Ends the terminal's line, so what follows starts on its own. */
  finish(): void {
    if (this.open) this.sink.write('\n');
    this.open = false;
  }
}
