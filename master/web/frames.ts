import * as fs from 'node:fs';
import type { LogStore } from '../log-store.js';
import type { Db } from '../store/database.js';
import type { JobRow } from '../store/job-reader.js';
import { taskReader } from '../store/task-reader.js';
import { isFrameFile } from '../../render/frame-names.js';
import { manifestTaskFrames, readManifest, type AnyManifest } from '../../render/manifest.js';
import { parseThumbnails } from '../../render/thumbnail.js';
import { taskPage } from './task-page.js';
import type { FrameView, FramesPage } from '../../protocol/web-api.js';

/** How much of a task's stdout is read for thumbnail lines: they are printed at its end. */
const LOG_TAIL_BYTES = 1024 * 1024;
/** Thumbnails kept in memory, oldest dropped first. */
const CACHE_BYTES = 32 * 1024 * 1024;

/** A frame's thumbnail among a task's, by its file name (any extension for `frame_#####.*`). */
function frameThumbnail(thumbs: ReadonlyMap<string, Buffer>, pattern: string, frame: number): Buffer | undefined {
  for (const [name, png] of thumbs) if (isFrameFile(pattern, frame, name)) return png;
  return undefined;
}

/**
 * The frame grid of a render (or stitch) job, a page of tasks at a time. Thumbnails come from
 * the lines the task printed (render/thumbnail.ts), read from the master's own log store; what
 * a log holds is the owner's, so only the owner, root and managers get thumbnails and log lines.
 */
export class FrameViews {
  /** Thumbnails per committed attempt: a done attempt's log no longer changes. */
  private readonly cache = new Map<string, Map<string, Buffer>>();
  private cachedBytes = 0;

  constructor(
    private readonly db: Db,
    private readonly logs: LogStore,
  ) {}

  manifestOf(job: JobRow): AnyManifest | null {
    const spec = JSON.parse(job.spec) as { command: { kind: string; script?: string } };
    if (spec.command.kind !== 'script' || !spec.command.script) return null;
    try {
      return readManifest(spec.command.script);
    } catch {
      return null;
    }
  }

  page(job: JobRow, offset: number, limit: number, mayRead: boolean): FramesPage {
    const manifest = this.manifestOf(job);
    if (!manifest) return { render: false, tiled: false, frames: [], totalTasks: 0 };
    const tiled = manifest.kind === 'render' && manifest.tilesX * manifest.tilesY > 1;
    const tasks = taskPage(this.db, job, offset, limit);
    const frames: FrameView[] = [];
    for (const task of tasks.rows) {
      const taskFrames = manifest.kind === 'render' ? manifestTaskFrames(manifest, task.taskId) : [manifest.frames[task.taskId - 1]!].filter((f) => f !== undefined);
      const attempt = task.state === 'pending' ? undefined : this.attemptOf(job.id, task.taskId);
      const thumbs = mayRead && attempt && task.state === 'done' && !tiled ? this.thumbnails(job.id, task.taskId, attempt) : new Map<string, Buffer>();
      const failed = task.state === 'failed';
      const lastLines = mayRead && failed && attempt ? this.lastLines(job.id, task.taskId, attempt) : [];
      const wall = task.started && task.ended ? (task.ended - task.started) / 1000 : null;
      for (const frame of taskFrames) {
        frames.push({
          frame,
          taskId: task.taskId,
          state: task.state,
          secondsPerFrame: wall === null ? null : wall / taskFrames.length,
          thumbnail: manifest.pattern && frameThumbnail(thumbs, manifest.pattern, frame) ? `/api/v1/web/jobs/${job.id}/thumbnails/${task.taskId}/${frame}` : null,
          lastLines,
        });
      }
    }
    return { render: true, tiled, frames, totalTasks: tasks.total };
  }

  /** The PNG of one frame's thumbnail, or undefined. */
  thumbnail(job: JobRow, taskId: number, frame: number): Buffer | undefined {
    const manifest = this.manifestOf(job);
    const attempt = this.attemptOf(job.id, taskId);
    if (!manifest?.pattern || !attempt) return undefined;
    return frameThumbnail(this.thumbnails(job.id, taskId, attempt), manifest.pattern, frame);
  }

  private attemptOf(jobId: number, taskId: number): string | undefined {
    return taskReader(this.db).currentAttemptId(jobId, taskId);
  }

  private thumbnails(jobId: number, taskId: number, attemptId: string): Map<string, Buffer> {
    const cached = this.cache.get(attemptId);
    if (cached) return cached;
    const found = parseThumbnails(this.tail(this.logs.file(jobId, taskId, attemptId, 'stdout'), LOG_TAIL_BYTES));
    const size = (m: Map<string, Buffer>): number => [...m.values()].reduce((n, b) => n + b.length, 0);
    this.cache.set(attemptId, found);
    this.cachedBytes += size(found);
    while (this.cachedBytes > CACHE_BYTES && this.cache.size > 1) {
      const oldest = this.cache.keys().next().value as string;
      this.cachedBytes -= size(this.cache.get(oldest)!);
      this.cache.delete(oldest);
    }
    return found;
  }

  private lastLines(jobId: number, taskId: number, attemptId: string): string[] {
    const text = this.tail(this.logs.file(jobId, taskId, attemptId, 'stderr'), 16 * 1024) || this.tail(this.logs.file(jobId, taskId, attemptId, 'stdout'), 16 * 1024);
    return text.split('\n').filter((l) => l.trim() !== '').slice(-5).map((l) => l.slice(0, 300));
  }

  /** The last `bytes` of a file of the master's log store ('' when there is none). */
  private tail(file: string, bytes: number): string {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw err;
    }
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(size, bytes);
      const buf = Buffer.alloc(length);
      fs.readSync(fd, buf, 0, length, size - length);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  }
}
