import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validators } from '../../protocol/api.js';
import type { SubmitResponse } from '../../protocol/job-spec.js';
import type { JobSubmitRequest } from '../../protocol/api.js';
import { buildRenderJob, buildStitchJob, renderLogDir, stitchJobName, type RenderJob } from '../../render/render-job.js';
import { parseOutputLocation } from '../../render/output-location.js';
import { adHocSoftware, findSoftware, type SoftwareConfig } from '../../render/software.js';
import { defaultStitchCommand, defaultThumbnailCommand } from '../../render/stitch-entry.js';
import { shellJoin } from '../../render/shell-quote.js';
import { RenderError } from '../../render/errors.js';
import { checkProjectInputs, loadProject, projectDataInputs, projectOutput, projectScenePath } from '../../render/project.js';
import { isOssUrl, ossSceneInput } from '../../render/render-data.js';
import { shellQuote } from '../../render/shell-quote.js';
import { sceneFrameRange } from '../../render/scene-frame-range.js';
import type { DataMapping, JobData } from '../../protocol/job-data.js';
import { ApiClient } from '../api-client.js';
import { waitForJob } from './render-wait.js';
import { RenderProgress, type ProgressSink } from './render-progress.js';
import { renderStatus } from './render-status.js';
import { downloadFrames, type DownloadFramesResult } from '../../render/download-frames.js';
import { stitchOutputDirWord, stitchStem, stitchTileDir } from '../../render/task-script.js';
import { StoreResolver } from '../../storage/open-store.js';
import { submitterEnvironment } from '../build-submission.js';
import { locateMaster, qfarmHome } from '../master-location.js';
import { currentSubmitter } from '../submitter.js';

/** Options of `qfarm render submit`, as commander hands them over. */
export interface RenderSubmitOptions {
  template?: string;
  software?: string;
  scene?: string;
  start?: number;
  end?: number;
  step?: number;
  framesPerTask?: number;
  tilesX?: number;
  tilesY?: number;
  /** `-R [seed]`: true for the default seed. */
  random?: number | true;
  nodes?: number;
  param?: string[];
  dryRun?: boolean;
  debugFrame?: number;
  outdir?: string;
  output?: string;
  expect?: string;
  cpu?: number;
  name?: string;
  slots?: number;
  queue?: string;
  priority?: number;
  /** `--wait`: wait for the render (and stitch) job, print the status, fail when frames failed. */
  wait?: boolean;
  /** `--project NAME|FILE`: defaults for scene location, output, software and parameters. */
  project?: string;
  /** `--download DIR`: wait for the job, then bring its frames home into DIR. */
  download?: string;
}

/** What the command needs from its surroundings (tests pass their own). */
export interface RenderSubmitContext {
  cwd: string;
  environment: NodeJS.ProcessEnv;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Where `--wait`/`--download` print progress (default: none); `tty` rewrites one line. */
  progress?: ProgressSink;
  /** argv that runs the stitcher on a worker when `qfarm-stitch` is not on its PATH. */
  stitchCommand?: readonly string[];
}

export interface RenderSubmitResult {
  job: RenderJob;
  renderJobId: number | null;
  stitchJobId: number | null;
}

/** Seed of `-R` without a value: fixed, so a resubmission renders in the same order. */
export const DEFAULT_RANDOM_SEED = 1;

export function parseParameters(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? '' : pair.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new RenderError(`-P ${pair}: expected NAME=VALUE with NAME made of letters, digits and _`);
    }
    out[name] = pair.slice(eq + 1);
  }
  return out;
}

function defaultJobName(scene: string | null, software: SoftwareConfig): string {
  const base = scene === null ? software.name : path.basename(scene).replace(/\.[^.]*$/, '');
  const safe = base.replace(/[\n\r/:@\\*?]/g, '_');
  return safe === '' ? 'render' : safe;
}

/** Builds the render job (and tells how it would be stitched) from the command's options. */
export function renderJobFromOptions(options: RenderSubmitOptions, ctx: Pick<RenderSubmitContext, 'cwd' | 'environment'>, warn: (line: string) => void = () => {}): RenderJob {
  const renderHome = path.join(qfarmHome(ctx.environment), 'render');
  const project = options.project === undefined ? null : loadProject(options.project, path.join(renderHome, 'projects'), ctx.cwd);
  if (project !== null) for (const line of checkProjectInputs(project)) warn(`qfarm render: warning: ${line}`);
  if (options.template !== undefined && options.software !== undefined) {
    throw new RenderError('-T TEMPLATE and --software NAME cannot be combined', 'use a software configuration, or a template of your own');
  }
  const configured =
    options.template !== undefined
      ? adHocSoftware(options.template, options.expect ?? null)
      : findSoftware(options.software ?? project?.software ?? 'blender', path.join(renderHome, 'software'));
  const software: SoftwareConfig = options.expect !== undefined && options.template === undefined ? { ...configured, output: options.expect } : configured;
  const sceneRef = options.scene === undefined ? null : projectScenePath(project, options.scene, ctx.cwd);
  const inputs: DataMapping[] = projectDataInputs(project);
  let scene = sceneRef;
  if (sceneRef !== null && isOssUrl(sceneRef)) {
    // The scene's folder is staged on each node; $SCENE is the staged copy.
    const staged = ossSceneInput(sceneRef);
    inputs.push(staged.mapping);
    scene = staged.scene;
  }
  const debug = options.debugFrame !== undefined;
  let start = options.start;
  let end = options.end;
  if (debug) {
    if (start !== undefined || end !== undefined || options.framesPerTask !== undefined || options.nodes !== undefined) {
      throw new RenderError('--debug-frame renders one frame: leave out -s, -e, -S and --nodes');
    }
    start = end = options.debugFrame;
  }
  let step = options.step;
  if (start === undefined) {
    if (end !== undefined) throw new RenderError('-e END without -s START', "give both, or neither to render the scene's own range");
    if (software.name !== 'blender' || sceneRef === null) throw new RenderError('no frame range: give -s START [-e END] (or --debug-frame N to test one frame)', "only Blender scenes (--software blender) tell their own range");
    if (isOssUrl(sceneRef)) throw new RenderError(`no frame range: give -s START -e END for ${sceneRef}`, "the scene's own range is read from a scene on this machine; one in oss:// is not downloaded to read it");
    const range = sceneFrameRange(sceneRef, ctx.environment);
    warn(`qfarm render: frames ${range.start}-${range.end}${range.step > 1 ? ` step ${range.step}` : ''}: the scene's own range (give -s/-e to choose)`);
    start = range.start;
    end = range.end;
    step ??= range.step;
  }
  const baseName = options.name ?? defaultJobName(sceneRef, software);
  const name = debug ? `${baseName}.debug` : baseName;
  const fromProject = project?.output === undefined ? undefined : projectOutput(project, name);
  const output = parseOutputLocation(options.output ?? options.outdir ?? fromProject ?? `${name}-frames`, ctx.cwd);
  const random = options.random === true ? DEFAULT_RANDOM_SEED : options.random;
  return buildRenderJob({
    name,
    software,
    scene,
    parameters: { ...(project?.parameters ?? {}), ...parseParameters(options.param ?? []) },
    plan: {
      start,
      end: end ?? start,
      step,
      framesPerTask: options.framesPerTask,
      nodes: options.nodes,
      tilesX: options.tilesX,
      tilesY: options.tilesY,
      randomSeed: random,
    },
    output,
    inputs,
    cpu: options.cpu ?? null,
    thumbnailCommand: defaultThumbnailCommand(),
  });
}

/** `POST /jobs` body of one of the render layer's array jobs. */
export function renderSubmission(
  name: string,
  script: string,
  scriptName: string,
  tasks: number,
  job: RenderJob,
  options: Pick<RenderSubmitOptions, 'slots' | 'queue' | 'priority'>,
  ctx: Pick<RenderSubmitContext, 'cwd' | 'environment'>,
  holdJobs: string[] = [],
  data: JobData | undefined = job.data,
): JobSubmitRequest {
  const submitter = currentSubmitter();
  const submitHost = os.hostname();
  const logs = renderLogDir(job.request.output);
  const output = job.request.output;
  const submission: JobSubmitRequest = {
    name,
    submitHost,
    command: { kind: 'script', script, scriptName, args: [] },
    shell: '/bin/sh',
    // oss:// output: no directory of ours on the node; the user's home, qsub's default.
    cwd: output.kind === 'file' ? output.dir : (ctx.environment.HOME ?? os.homedir()),
    submitCwd: ctx.cwd,
    ...(logs === null ? {} : { stdoutPath: path.join(logs, '$JOB_NAME.o$JOB_ID.$TASK_ID') }),
    // Merged, so a task's log reads in order: renderer output, then our check's verdict.
    joinOutput: true,
    env: submitterEnvironment({ submitter, submitHost, processCwd: ctx.cwd, environment: ctx.environment }),
    // Always an array job, even of one task: SGE sets SGE_TASK_ID only for array jobs.
    array: { first: 1, last: tasks, step: 1 },
    hold: false,
    holdJobs,
    priority: options.priority ?? 0,
    slots: options.slots ?? 1,
    resources: { other: {} },
    pty: false,
  };
  if (options.queue !== undefined) submission.queue = options.queue;
  if (data !== undefined) submission.data = data;
  return validators.jobSubmitRequest.parse(submission);
}

function printDryRun(job: RenderJob, out: (line: string) => void): void {
  const { plan } = job;
  out(`# qfarm render ${job.request.name}: ${plan.frames.length} frame(s), ${job.tasks.length} task(s)${job.tiled ? `, ${plan.tilesX}x${plan.tilesY} tiles per frame` : ''}; output ${job.request.output.url}`);
  const overrides = job.manifest.overrides ?? [];
  out(overrides.length === 0 ? "# scene settings: the scene's own, unchanged" : `# scene settings changed (everything else is the scene's own):`);
  for (const line of overrides) out(`#   ${line}`);
  // Set once by the job script; the tasks' commands below refer to it.
  for (const [name, value] of Object.entries(job.tasks[0]?.shared ?? {})) out(`${name}=${shellQuote(value)}`);
  for (const task of job.tasks) {
    const tile = task.tile === null ? '' : ` tile x${task.tile.x} y${task.tile.y}`;
    out(`# task ${task.taskId}: frames ${task.start}-${task.end}${task.step > 1 ? `:${task.step}` : ''}${tile} -> ${task.outdir}`);
    out(task.command);
  }
  if (job.tiled) {
    const stitch = buildStitchJob(job, 0, ['qfarm-stitch']);
    const byBlender = stitch.manifest.stitcher === 'blender';
    out(`# then stitch job ${stitch.manifest.name}: one task per frame, after every tile task has finished${byBlender ? "; Blender renders the scene from its tiles (the scene's compositing, format and dither)" : ''}`);
    stitch.manifest.frames.forEach((frame, i) => {
      out(`# stitch task ${i + 1}: frame ${frame}`);
      if (byBlender) out(`blender -b ${shellJoin([job.request.scene ?? ''])} -o ${stitchOutputDirWord(stitch.manifest)}/${shellJoin([stitchStem(stitch.manifest.pattern)])} --python-expr '<stitch from ${stitchTileDir(stitch.manifest)}>' -f ${frame}`);
      else out(`qfarm-stitch --frame ${frame} --tiles ${plan.tilesX}x${plan.tilesY} --tile-dir ${shellJoin([stitchTileDir(stitch.manifest)])} --pattern ${shellJoin([stitch.manifest.pattern])} --output-dir ${stitchOutputDirWord(stitch.manifest)}`);
    });
    if (stitch.data !== undefined) out(`# stitch job data: ${describeData(stitch.data)}`);
  }
  if (job.data !== undefined) out(`# render job data: ${describeData(job.data)}`);
}

function describeData(data: JobData): string {
  const inputs = data.inputs.map((i) => `${i.source} -> ${i.target}${i.readOnly ? ' (ro)' : ''}`);
  return [...inputs.map((i) => `input ${i}`), ...(data.outputUrl === undefined ? [] : [`$OUTDIR uploaded to ${data.outputUrl}`])].join('; ');
}

function submittedLine(res: SubmitResponse): string {
  const array = res.array;
  return array === undefined
    ? `Your job ${res.jobId} ("${res.name}") has been submitted`
    : `Your job-array ${res.jobId}.${array.first}-${array.last}:${array.step} ("${res.name}") has been submitted`;
}

/**
 * `qfarm render submit`: a dry run prints every task's command (no master needed); otherwise
 * submits the render array job, then for tiles the stitch array job that holds on it.
 */
export async function renderSubmit(options: RenderSubmitOptions, ctx: RenderSubmitContext, client?: ApiClient): Promise<RenderSubmitResult> {
  const job = renderJobFromOptions(options, ctx, ctx.err);
  const stagedScene = job.data?.inputs.some((i) => job.request.scene?.startsWith(i.target + '/')) ?? false;
  if (job.request.scene !== null && !stagedScene && !existsSync(job.request.scene)) {
    ctx.err(`qfarm render: warning: scene ${job.request.scene} does not exist on this machine; the workers must see it at that path`);
  }
  if (options.dryRun) {
    printDryRun(job, ctx.out);
    return { job, renderJobId: null, stitchJobId: null };
  }
  // Blender stitches its own tiles (blender-stitch.ts); other software's PNG tiles need qfarm-stitch.
  const stitchCommand = job.tiled && job.request.software.stitcher !== 'blender' ? (ctx.stitchCommand ?? defaultStitchCommand()) : [];
  const api = client ?? new ApiClient(locateMaster(ctx.environment));
  // file:// output: the directory (and the log directory) must exist before tasks write there.
  const logDir = renderLogDir(job.request.output);
  if (logDir !== null) mkdirSync(logDir, { recursive: true });
  const renderBody = renderSubmission(job.request.name, job.script, `${job.request.name}.render.sh`, job.tasks.length, job, options, ctx);
  const submitted = await api.post('/jobs', renderBody, validators.submitResponse);
  ctx.out(submittedLine(submitted));
  let stitchJobId: number | null = null;
  if (job.tiled) {
    const stitch = buildStitchJob(job, submitted.jobId, stitchCommand);
    // The master has whole-job -hold_jid only: every frame's stitch waits for ALL tiles. With
    // -hold_jid_ad, stitch task N could start as soon as frame N's tiles are done.
    const body = renderSubmission(stitchJobName(job.request.name), stitch.script, `${stitch.manifest.name}.sh`, stitch.manifest.frames.length, job, { ...options, slots: 1 }, ctx, [String(submitted.jobId)], stitch.data);
    const res = await api.post('/jobs', body, validators.submitResponse);
    stitchJobId = res.jobId;
    ctx.out(submittedLine(res));
  }
  ctx.out(`qfarm render: ${job.plan.frames.length} frame(s) into ${job.request.output.url}; follow with: qfarm render status ${submitted.jobId}`);
  const result = { job, renderJobId: submitted.jobId, stitchJobId };
  if (options.wait || options.download !== undefined) {
    const progress = ctx.progress === undefined ? null : new RenderProgress(ctx.progress);
    // Logs are not read for progress (failed tasks' lines come with the final status).
    const tick = async (): Promise<void> => progress?.report(await renderStatus(api, submitted.jobId, async () => ''));
    try {
      for (const id of [submitted.jobId, stitchJobId]) if (id !== null) await waitForJob(api, id, tick, progress === null ? 20 : 5);
    } finally {
      progress?.finish();
    }
  }
  if (options.download !== undefined) {
    await downloadRenderOutput(job.request.output.url, path.resolve(ctx.cwd, options.download), ctx);
  }
  return result;
}

/**
 * Frames from a render job's output location into `dir`, one progress line per file. Tiles are
 * left in the bucket: the stitch job made frames of them.
 */
export async function downloadRenderOutput(outputUrl: string, dir: string, ctx: Pick<RenderSubmitContext, 'environment' | 'out'>): Promise<DownloadFramesResult> {
  ctx.out(`qfarm render: downloading frames from ${outputUrl} to ${dir}`);
  const result = await downloadFrames(outputUrl, dir, new StoreResolver({}, ctx.environment), (file, size) => ctx.out(`  ${file} (${formatBytes(size)})`));
  ctx.out(`qfarm render: downloaded ${result.files} file(s), ${formatBytes(result.bytes)} in ${(result.elapsedMs / 1000).toFixed(1)} s to ${dir}`);
  return result;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}
