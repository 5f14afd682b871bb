import path from 'node:path';
import type { DataMapping, JobData } from '../protocol/job-data.js';
import { RUNTIME_OUTDIR, type RenderManifest, type StitchManifest } from './manifest.js';
import type { OutputLocation } from './output-location.js';
import { renderJobData, stitchJobData } from './render-data.js';
import { planRender, type PlanOptions, type RenderPlan } from './plan.js';
import type { SoftwareConfig } from './software.js';
import { blenderStitchTaskScript, renderTaskScript, stitchTaskScript } from './task-script.js';
import { expandTasks, type ExpandedTask } from './task-variables.js';
import { RenderError } from './errors.js';

/**
 * A render job as qfarm jobs: an array job with one task per chunk (× tile), and for tiled
 * renders a stitch array job with one task per frame that waits for the tiles. This module
 * builds both scripts; the CLI wraps them into `POST /jobs` bodies.
 */

/** The master's limit on a stored job script (protocol/job-spec.ts ScriptCommand). */
export const MAX_SCRIPT_BYTES = 8 * 1024 * 1024;

export interface RenderRequest {
  name: string;
  software: SoftwareConfig;
  /** Absolute scene path (as workers see it), or null. */
  scene: string | null;
  parameters: Readonly<Record<string, string>>;
  plan: PlanOptions;
  output: OutputLocation;
  /** oss:// inputs (the scene's folder, project inputs) staged read-only on the node. */
  inputs?: readonly DataMapping[];
  /** `--cpu`; null uses the task's slots (NSLOTS) at run time. */
  cpu: number | null;
  /** How workers run render/thumbnail-main.js (dashboard thumbnails); none prints no thumbnails. */
  thumbnailCommand?: readonly string[];
}

export interface RenderJob {
  request: RenderRequest;
  plan: RenderPlan;
  tasks: ExpandedTask[];
  manifest: RenderManifest;
  script: string;
  /** Whether a stitch job must follow (tiles were asked for). */
  tiled: boolean;
  /** The job's data options (inputs staged, $OUTDIR uploaded), when it has any. */
  data: JobData | undefined;
}

export function buildRenderJob(request: RenderRequest): RenderJob {
  if (!/^[^\n\r/:@\\*?]+$/.test(request.name)) {
    throw new RenderError(`render job name ${JSON.stringify(request.name)} is not valid`, 'a job name may not contain / : @ \\ * ? or newlines');
  }
  const plan = planRender(request.plan);
  const tiled = plan.tilesX * plan.tilesY > 1;
  if (tiled && request.software.output === null) {
    throw new RenderError('tiles need to know the file each frame writes, to stitch them', 'give --expect PATTERN (e.g. frame_#####.png) with -T');
  }
  if (tiled && request.software.stitcher !== 'blender' && !request.software.output!.toLowerCase().endsWith('.png')) {
    throw new RenderError(`tiles of ${request.software.name} are stitched from PNG files by qfarm-stitch, but it writes ${request.software.output}`, 'render tiles to PNG (8-bit), or render whole frames');
  }
  const tasks = expandTasks(plan, { software: request.software, parameters: request.parameters, scene: request.scene, outputDir: request.output.kind === 'file' ? request.output.dir : null, cpu: request.cpu });
  const manifest: RenderManifest = {
    version: 1,
    kind: 'render',
    name: request.name,
    software: request.software.name,
    scene: request.scene,
    output: request.output.url,
    outputDir: request.output.kind === 'file' ? request.output.dir : RUNTIME_OUTDIR,
    pattern: request.software.output,
    step: plan.step,
    tilesX: plan.tilesX,
    tilesY: plan.tilesY,
    tasks: tasks.map((t) => [t.start, t.end, t.tile?.x ?? -1, t.tile?.y ?? -1]),
    overrides: renderOverrides(request.software, request.parameters, tiled),
  };
  // Blender prints its own thumbnails of every format; qfarm-thumbnail would repeat the PNG ones.
  const script = renderTaskScript(tasks, manifest, request.software.printsThumbnails ? undefined : request.thumbnailCommand);
  const bytes = Buffer.byteLength(script);
  if (bytes > MAX_SCRIPT_BYTES) {
    throw new RenderError(
      `the job script for ${tasks.length} tasks is ${(bytes / 1048576).toFixed(1)} MiB, more than the ${MAX_SCRIPT_BYTES / 1048576} MiB a job script may be`,
      'render more frames per task (-S) or use fewer tiles',
    );
  }
  return { request, plan, tasks, manifest, script, tiled, data: renderJobData(request.inputs ?? [], request.output) };
}

export interface StitchJob {
  manifest: StitchManifest;
  script: string;
  data: JobData | undefined;
}

/** The stitch job of a tiled render job, once the render job has its id. */
export function buildStitchJob(job: RenderJob, renderJobId: number, stitchCommand: readonly string[]): StitchJob {
  const output = job.request.output;
  const blender = job.request.software.stitcher === 'blender';
  const staged = output.kind === 'oss' ? stitchJobData(output, blender ? (job.request.inputs ?? []) : []) : null;
  const manifest: StitchManifest = {
    version: 1,
    kind: 'stitch',
    name: stitchJobName(job.request.name),
    renderJobId,
    outputDir: output.kind === 'file' ? output.dir : RUNTIME_OUTDIR,
    ...(staged === null ? {} : { tileDir: staged.tileDir }),
    pattern: job.request.software.output!,
    tilesX: job.plan.tilesX,
    tilesY: job.plan.tilesY,
    frames: job.plan.frames,
    stitcher: blender ? 'blender' : 'png',
  };
  const script = blender ? blenderStitchTaskScript(manifest, job.request.scene!, job.request.parameters, job.request.cpu) : stitchTaskScript(manifest, stitchCommand);
  return { manifest, script, data: staged?.data };
}

/**
 * Every change to the scene's settings, for `-d` and `qfarm render status`: the software's own
 * list when it has one, else each -P value given.
 */
export function renderOverrides(software: SoftwareConfig, parameters: Readonly<Record<string, string>>, tiled: boolean): string[] {
  if (software.overrides !== undefined) return software.overrides(parameters, tiled);
  return Object.entries(parameters).map(([name, value]) => `-P ${name}=${value}`);
}

export function stitchJobName(renderName: string): string {
  return `${renderName}.stitch`;
}

/**
 * Where the tasks' stdout/stderr files go: next to the frames, not in the user's home; null for
 * an oss:// output (the node's default, the user's home, as qsub; `qfarm render status` reads
 * logs through the master either way).
 */
export function renderLogDir(output: OutputLocation): string | null {
  return output.kind === 'file' ? path.join(output.dir, 'logs') : null;
}
