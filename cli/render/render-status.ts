import { validators, type AccountingRecord, type JobDetail } from '../../protocol/api.js';
import { manifestTaskFrames, readManifest, type RenderManifest, type StitchManifest } from '../../render/manifest.js';
import { stitchJobName } from '../../render/render-job.js';
import { RenderError } from '../../render/errors.js';
import type { ApiClient } from '../api-client.js';
import { lastLines } from './task-log.js';
import { SETUP_WARNING } from '../../render/blender-setup.js';
import { writtenFiles } from './written-files.js';

/**
 * `qfarm render status JOB`: frames done of total, failed frames with the last lines of their
 * logs, and time per frame, from GET /jobs/:id (the script's manifest maps tasks to frames),
 * GET /accounting (finished tasks) and GET /logs (failed tasks' output).
 */

export interface FailedTask {
  taskId: number;
  frames: number[];
  tile: { x: number; y: number } | null;
  host: string;
  exitStatus: number;
  failedReason: string;
  logTail: string[];
}

export interface RenderStatus {
  renderJobId: number;
  name: string;
  software: string;
  output: string;
  totalFrames: number;
  /** Frames whose every task (every tile, and the stitch when tiled) succeeded. */
  doneFrames: number[];
  /** Frames of which some task failed. */
  failedFrames: number[];
  /** Frames neither done nor failed of which some task is running now (render or stitch). */
  runningFrames: number[];
  failedTasks: FailedTask[];
  tilesX: number;
  tilesY: number;
  stitchJobId: number | null;
  /** Every change made to the scene's own settings (from the job's manifest). */
  overrides: string[];
  /** Warnings the render printed on the workers (e.g. denoiser off: no OpenImageDenoise), per host. */
  warnings: string[];
  /** Frames whose file is in a file:// output directory now (null for oss://: accounting only). */
  writtenFrames: number[] | null;
  /** Tiles rendered of all (frames x tile positions); null for whole frames. */
  tiles: { done: number; total: number } | null;
  /** Frames stitched, and stitch tasks running, of a tiled render. */
  stitch: { done: number; running: number; total: number } | null;
  /** Seconds of render time per finished frame (tiles summed). */
  secondsPerFrame: { mean: number; min: number; max: number; frames: number } | null;
}

const LOG_LINES = 5;

async function jobDetail(api: ApiClient, jobId: number): Promise<JobDetail> {
  const res = await api.get(`/jobs/${jobId}`, validators.jobDetailResponse);
  const job = res.jobs.find((j) => j.jobId === jobId);
  if (job === undefined) throw new RenderError(`job ${jobId} does not exist`, "'qstat' lists the jobs the master knows");
  return job;
}

async function accounting(api: ApiClient, jobId: number): Promise<AccountingRecord[]> {
  return (await api.get(`/accounting?job=${jobId}`, validators.accountingResponse)).records.filter((r) => r.jobnumber === jobId);
}

function manifestOf(job: JobDetail): RenderManifest | StitchManifest {
  const manifest = job.command.kind === 'script' ? readManifest(job.command.script) : null;
  if (manifest === null) throw new RenderError(`job ${job.jobId} ("${job.name}") is not a render job`, "use 'qstat -j' and 'qacct -j' for other jobs");
  return manifest;
}

/** The stitch job of a render job: named after it and holding on it. */
async function findStitchJob(api: ApiClient, render: JobDetail, name: string): Promise<JobDetail | null> {
  const rows = (await api.get('/jobs?finished=1', validators.qstatResponse)).rows;
  const candidates = [...new Set(rows.filter((r) => r.name === stitchJobName(name) && r.jobId > render.jobId).map((r) => r.jobId))];
  for (const id of candidates) {
    const detail = await jobDetail(api, id);
    const manifest = detail.command.kind === 'script' ? readManifest(detail.command.script) : null;
    if (manifest?.kind === 'stitch' && manifest.renderJobId === render.jobId) return detail;
  }
  return null;
}

const succeeded = (r: AccountingRecord): boolean => r.exitStatus === 0 && r.failedCode === 0;

export async function renderStatus(api: ApiClient, jobId: number, logs: (job: number, task: number) => Promise<string>): Promise<RenderStatus> {
  let render = await jobDetail(api, jobId);
  let manifest = manifestOf(render);
  let stitch: JobDetail | null = null;
  if (manifest.kind === 'stitch') {
    stitch = render;
    render = await jobDetail(api, manifest.renderJobId);
    manifest = manifestOf(render);
  }
  if (manifest.kind !== 'render') throw new RenderError(`job ${render.jobId} is not a render job`);
  const tiled = manifest.tilesX * manifest.tilesY > 1;
  if (tiled && stitch === null) stitch = await findStitchJob(api, render, manifest.name);
  const records = await accounting(api, render.jobId);
  const stitchRecords = stitch === null ? [] : await accounting(api, stitch.jobId);
  const allFrames = new Set<number>();
  const tasksOfFrame = new Map<number, number>();
  const okTasksOfFrame = new Map<number, number>();
  const failedFrames = new Set<number>();
  const seconds = new Map<number, number>();
  manifest.tasks.forEach((_entry, i) => {
    for (const f of manifestTaskFrames(manifest as RenderManifest, i + 1)) {
      allFrames.add(f);
      tasksOfFrame.set(f, (tasksOfFrame.get(f) ?? 0) + 1);
    }
  });
  const failedTasks: FailedTask[] = [];
  let tilesFromAccounting = 0;
  for (const record of records) {
    const taskId = record.taskid ?? 1;
    const frames = manifestTaskFrames(manifest, taskId);
    const entry = manifest.tasks[taskId - 1];
    if (succeeded(record)) {
      if (tiled) tilesFromAccounting += frames.length;
      const perFrame = Math.max(0, record.endTime - record.startTime) / 1000 / Math.max(1, frames.length);
      for (const f of frames) {
        okTasksOfFrame.set(f, (okTasksOfFrame.get(f) ?? 0) + 1);
        seconds.set(f, (seconds.get(f) ?? 0) + perFrame);
      }
    } else {
      for (const f of frames) failedFrames.add(f);
      failedTasks.push({
        taskId,
        frames,
        tile: entry === undefined || entry[2] < 0 ? null : { x: entry[2], y: entry[3] },
        host: record.hostname,
        exitStatus: record.exitStatus,
        failedReason: record.failedReason,
        logTail: lastLines(await logs(render.jobId, taskId), LOG_LINES),
      });
    }
  }
  const stitchedFrames = new Set<number>();
  let stitchRunning = 0;
  if (stitch !== null) {
    const stitchManifest = manifestOf(stitch) as StitchManifest;
    for (const record of stitchRecords) {
      const frame = stitchManifest.frames[(record.taskid ?? 1) - 1];
      if (frame === undefined) continue;
      if (succeeded(record)) stitchedFrames.add(frame);
      else {
        failedFrames.add(frame);
        failedTasks.push({
          taskId: record.taskid ?? 1,
          frames: [frame],
          tile: null,
          host: record.hostname,
          exitStatus: record.exitStatus,
          failedReason: `stitch job ${stitch.jobId}: ${record.failedReason}`,
          logTail: lastLines(await logs(stitch.jobId, record.taskid ?? 1), LOG_LINES),
        });
      }
    }
  }
  const warnings = await workerWarnings(records, render.jobId, logs);
  const RUNNING = new Set(['t', 'r', 'Rr', 'dr', 'dt']);
  const running = new Set<number>();
  for (const task of render.tasks) {
    if (task.taskId !== null && RUNNING.has(task.state)) for (const f of manifestTaskFrames(manifest, task.taskId)) running.add(f);
  }
  if (stitch !== null) {
    const frames = (manifestOf(stitch) as StitchManifest).frames;
    for (const task of stitch.tasks) {
      const f = task.taskId === null ? undefined : frames[task.taskId - 1];
      if (f !== undefined && RUNNING.has(task.state)) {
        running.add(f);
        stitchRunning++;
      }
    }
  }
  const done = [...allFrames].filter((f) => okTasksOfFrame.get(f) === tasksOfFrame.get(f) && (!tiled || stitchedFrames.has(f))).sort((a, b) => a - b);
  const rendered = [...allFrames].filter((f) => okTasksOfFrame.get(f) === tasksOfFrame.get(f)).map((f) => seconds.get(f)!);
  const secondsPerFrame =
    rendered.length === 0
      ? null
      : { mean: rendered.reduce((a, b) => a + b, 0) / rendered.length, min: Math.min(...rendered), max: Math.max(...rendered), frames: rendered.length };
  const written = writtenFiles(manifest);
  const totalTiles = allFrames.size * manifest.tilesX * manifest.tilesY;
  return {
    writtenFrames: written?.frames ?? null,
    // Tiles on disk count as soon as written; accounting covers oss:// and a tile dir cleaned up.
    tiles: tiled ? { done: Math.min(totalTiles, Math.max(written?.tiles ?? 0, tilesFromAccounting)), total: totalTiles } : null,
    stitch: tiled ? { done: stitchedFrames.size, running: stitchRunning, total: allFrames.size } : null,
    renderJobId: render.jobId,
    name: manifest.name,
    software: manifest.software,
    output: manifest.output,
    totalFrames: allFrames.size,
    doneFrames: done,
    failedFrames: [...failedFrames].sort((a, b) => a - b),
    runningFrames: [...running].filter((f) => !failedFrames.has(f) && !done.includes(f)).sort((a, b) => a - b),
    failedTasks,
    tilesX: manifest.tilesX,
    tilesY: manifest.tilesY,
    stitchJobId: stitch?.jobId ?? null,
    secondsPerFrame,
    overrides: manifest.overrides ?? [],
    warnings,
  };
}

/**
 * The setup's `qfarm-render: warning:` lines, from one finished task's log per host: what a
 * worker's Blender changed on its own (the denoiser where it lacks OpenImageDenoise) differs by
 * host, not by task, so one log per host is enough and keeps status cheap on big jobs.
 */
async function workerWarnings(records: readonly AccountingRecord[], jobId: number, logs: (job: number, task: number) => Promise<string>): Promise<string[]> {
  const seen = new Set<string>();
  const warnings: string[] = [];
  for (const record of records) {
    if (seen.has(record.hostname)) continue;
    seen.add(record.hostname);
    for (const line of (await logs(jobId, record.taskid ?? 1)).split('\n')) {
      if (!line.startsWith(SETUP_WARNING)) continue;
      const text = `${record.hostname}: ${line.slice(SETUP_WARNING.length).trim()}`;
      if (!warnings.includes(text)) warnings.push(text);
    }
  }
  return warnings;
}

function frameList(frames: readonly number[]): string {
  return frames.length === 1 ? `frame ${frames[0]}` : `frames ${frames[0]}-${frames[frames.length - 1]}`;
}

function stitchWords(stitch: NonNullable<RenderStatus['stitch']>): string {
  if (stitch.done === stitch.total) return 'stitched';
  if (stitch.done === 0 && stitch.running === 0) return 'stitch pending';
  return `stitched ${stitch.done}/${stitch.total}${stitch.running > 0 ? `, ${stitch.running} stitching` : ''}`;
}

/** What has been written so far: "written: 3/10 frames" and "tiles 12/16, stitch pending". */
export function progressLine(status: Pick<RenderStatus, 'writtenFrames' | 'totalFrames' | 'tiles' | 'stitch'>): string {
  const parts: string[] = [];
  if (status.writtenFrames !== null) parts.push(`written: ${status.writtenFrames.length}/${status.totalFrames} frames`);
  if (status.tiles !== null && status.stitch !== null) parts.push(`tiles ${status.tiles.done}/${status.tiles.total}, ${stitchWords(status.stitch)}`);
  return parts.join('; ');
}

export function formatRenderStatus(status: RenderStatus): string[] {
  const lines: string[] = [];
  const tiles = status.tilesX * status.tilesY > 1 ? `, ${status.tilesX}x${status.tilesY} tiles` : '';
  lines.push(`render job ${status.renderJobId} "${status.name}" (${status.software}${tiles}) -> ${status.output}`);
  const pending = status.totalFrames - status.doneFrames.length - status.failedFrames.length - status.runningFrames.length;
  lines.push(`frames: ${status.doneFrames.length}/${status.totalFrames} done, ${status.failedFrames.length} failed, ${status.runningFrames.length} running, ${pending} pending`);
  const progress = progressLine(status);
  if (progress !== '') lines.push(progress);
  if (status.tilesX * status.tilesY > 1) {
    lines.push(status.stitchJobId === null ? 'stitch job: not found (frames stay as tiles under tiles/)' : `stitch job: ${status.stitchJobId}`);
  }
  lines.push(status.overrides.length === 0 ? "scene settings: the scene's own, unchanged" : 'scene settings changed (everything else is the scene\'s own):');
  for (const line of status.overrides) lines.push(`  ${line}`);
  for (const line of status.warnings) lines.push(`warning: ${line}`);
  const t = status.secondsPerFrame;
  if (t !== null) lines.push(`time per frame: ${t.mean.toFixed(1)} s mean (min ${t.min.toFixed(1)} s, max ${t.max.toFixed(1)} s) over ${t.frames} rendered frame(s)`);
  if (status.failedTasks.length > 0) {
    lines.push('failed:');
    for (const task of status.failedTasks) {
      const tile = task.tile === null ? '' : ` tile x${task.tile.x} y${task.tile.y}`;
      const reason = task.failedReason ? `, ${task.failedReason}` : '';
      lines.push(`  ${frameList(task.frames)}${tile} (task ${task.taskId}) on ${task.host || '?'}: exit status ${task.exitStatus}${reason}`);
      for (const line of task.logTail) lines.push(`    | ${line}`);
    }
  }
  return lines;
}

/**
 * Where a render job's frames are (`qfarm render get`): its uploaded outputs' location, else
 * the file:// location in its manifest; a stitch job answers for its render job.
 */
export async function renderOutputUrl(api: ApiClient, jobId: number): Promise<string> {
  const job = await jobDetail(api, jobId);
  const manifest = manifestOf(job);
  if (job.data?.outputUrl !== undefined) return job.data.outputUrl;
  if (manifest.kind === 'render') return manifest.output;
  return renderOutputUrl(api, manifest.renderJobId);
}
