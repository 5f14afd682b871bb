import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { createDemoScene } from '../../render/demo-scene.js';
import { localOutputDir, parseOutputLocation } from '../../render/output-location.js';
import { buildRenderJob, buildStitchJob, type RenderJob } from '../../render/render-job.js';
import { adHocSoftware, BLENDER } from '../../render/software.js';
import { MISSING_OUTPUT_EXIT } from '../../render/task-script.js';
import { MOVIE_FORMAT_EXIT } from '../../render/blender-setup.js';
import type { PlanOptions } from '../../render/plan.js';
import { pixelData } from './image-data.js';
import { ROOT, run, runTaskScript, stitchCommandFromSource, tempDir } from './helpers.js';

/**
 * Real Blender, headless: the farm renders the artist's scene as Blender itself does. Whole
 * frames, chunks and stitched tiles are compared, pixel for pixel, with `blender -b scene.blend
 * -o ... -f N` (or `-a`) of the same scene, for 16-bit PNG, OpenEXR and multilayer OpenEXR, with
 * the scene's seed, animated seed and dither kept. Scenes are tiny (160x90, 4 samples).
 */

// Not a skip: without Blender this installs it (CI runs as root on Debian) or fails.
execFileSync('/bin/sh', [path.join(ROOT, 'test', 'render', 'ensure-blender.sh')], { stdio: 'inherit' });

const dir = tempDir(t, 'qfarm-blender-');
const demo = path.join(dir, `scenes/my "shot" it's.blend`);

/** A copy of the demo scene at 160x90, 4 samples, with the artist's settings in `python`. */
async function sceneWith(name: string, python: string): Promise<string> {
  const file = path.join(dir, 'scenes', `${name}.blend`);
  const code = ['import bpy', 's = bpy.context.scene', 'r = s.render', 'r.resolution_percentage = 50', 's.cycles.samples = 4', python, `bpy.ops.wm.save_as_mainfile(filepath=${JSON.stringify(file)})`].join('\n');
  const res = await run('blender', ['-b', demo, '--python-expr', code]);
  if (res.code !== 0) throw new Error(`could not make scene ${name}: ${res.stdout}${res.stderr}`);
  return file;
}

function job(name: string, scene: string, plan: PlanOptions, parameters: Record<string, string> = {}): RenderJob {
  return buildRenderJob({ name, software: BLENDER, scene, parameters, plan, output: parseOutputLocation(path.join(dir, name)), cpu: 2 });
}

async function runAll(j: RenderJob): Promise<string> {
  let log = '';
  for (const task of j.tasks) {
    const res = await runTaskScript(j.script, task.taskId, dir);
    if (res.code !== 0) throw new Error(`${j.request.name} task ${task.taskId} exited ${res.code}:\n${res.stdout.slice(-2000)}\n${res.stderr.slice(-2000)}`);
    log += res.stdout;
  }
  return log;
}

async function stitch(j: RenderJob): Promise<void> {
  const s = buildStitchJob(j, 1, stitchCommandFromSource());
  for (let i = 1; i <= s.manifest.frames.length; i++) {
    const res = await runTaskScript(s.script, i, dir);
    if (res.code !== 0) throw new Error(`stitch task ${i} exited ${res.code}: ${res.stdout.slice(-3000)}${res.stderr.slice(-3000)}`);
  }
}

/** Blender's own render of the scene: `blender -b scene -o DIR/frame_##### ARGS`. */
async function blenderItself(scene: string, name: string, args: string[]): Promise<string> {
  const out = path.join(dir, name);
  const res = await run('blender', ['-b', scene, '-o', path.join(out, 'frame_#####'), ...args]);
  if (res.code !== 0) throw new Error(`blender ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
  return out;
}

function frames(directory: string): string[] {
  return readdirSync(directory).filter((n) => n.startsWith('frame_')).sort();
}

function samePixels(t: Tap.Test, farm: string, blender: string, what: string): void {
  const a = pixelData(farm);
  const b = pixelData(blender);
  t.equal(a.format, b.format, `${what}: same format (${b.format})`);
  t.ok(a.pixels.equals(b.pixels), `${what}: bit-identical pixels to Blender's own render`);
}

t.before(async () => {
  mkdirSync(path.dirname(demo), { recursive: true });
  await createDemoScene(demo, 6);
});

t.test('chunks of a 16-bit PNG scene (seed 5, animated seed, dither 1) equal blender -b scene -a', async (t) => {
  const scene = await sceneWith('png16', 'r.image_settings.file_format = "PNG"\nr.image_settings.color_depth = "16"\ns.cycles.seed = 5\ns.cycles.use_animated_seed = True\nr.dither_intensity = 1.0');
  const chunks = job('png16-chunks', scene, { start: 1, end: 3, framesPerTask: 2 });
  t.equal(chunks.tasks.length, 2);
  t.same(chunks.manifest.overrides, ['file extension on (the farm finds frames as frame_#####.<ext>)'], 'nothing of the scene is changed but the file extension');
  const log = await runAll(chunks);
  t.match(log, /qfarm-render: scene settings: engine CYCLES, format PNG 16-bit, seed 5 animated, samples 4, dither 1\.0, denoiser off/);
  const reference = await blenderItself(scene, 'png16-blender', ['-s', '1', '-e', '3', '-a']);
  const farm = localOutputDir(chunks.request.output);
  t.same(frames(farm), ['frame_00001.png', 'frame_00002.png', 'frame_00003.png']);
  t.same(frames(farm), frames(reference));
  for (const name of frames(reference)) samePixels(t, path.join(farm, name), path.join(reference, name), name);
  t.match(pixelData(path.join(farm, 'frame_00001.png')).format, /depth 16/, 'still 16 bits per channel');
});

t.test('an OpenEXR (half float) scene renders EXR, equal to blender -b scene -f 2', async (t) => {
  const scene = await sceneWith('exr', 'r.image_settings.file_format = "OPEN_EXR"\nr.image_settings.color_depth = "16"\nr.image_settings.exr_codec = "ZIP"\ns.cycles.seed = 3');
  const whole = job('exr-whole', scene, { start: 2, end: 2 });
  await runAll(whole);
  const reference = await blenderItself(scene, 'exr-blender', ['-f', '2']);
  const farm = localOutputDir(whole.request.output);
  t.same(frames(farm), ['frame_00002.exr']);
  samePixels(t, path.join(farm, 'frame_00002.exr'), path.join(reference, 'frame_00002.exr'), 'frame 2');
  t.match(pixelData(path.join(farm, 'frame_00002.exr')).format, /:half/, 'half floats, as the scene says');
});

t.test('2x2 tiles of a multilayer EXR scene, stitched by Blender, equal the whole frame in every pass', async (t) => {
  const scene = await sceneWith('multilayer', 'r.image_settings.file_format = "OPEN_EXR_MULTILAYER"\nr.image_settings.color_depth = "32"\nr.image_settings.exr_codec = "ZIP"\ns.view_layers[0].use_pass_normal = True\ns.cycles.use_animated_seed = True');
  const tiles = job('ml-tiles', scene, { start: 3, end: 3, tilesX: 2, tilesY: 2 });
  await runAll(tiles);
  await stitch(tiles);
  const reference = await blenderItself(scene, 'ml-blender', ['-f', '3']);
  const farm = localOutputDir(tiles.request.output);
  t.same(frames(farm), ['frame_00003.exr']);
  samePixels(t, path.join(farm, 'frame_00003.exr'), path.join(reference, 'frame_00003.exr'), 'stitched frame 3');
  t.match(pixelData(path.join(farm, 'frame_00003.exr')).format, /Normal\.X:float/, 'the normal pass is there');
});

t.test("4x2 tiles of an 8-bit PNG scene with the scene's dither 1.0, stitched, equal the whole frame", async (t) => {
  const scene = await sceneWith('png8-dither', 'r.image_settings.file_format = "PNG"\nr.image_settings.color_depth = "8"\nr.dither_intensity = 1.0');
  const tiles = job('dither-tiles', scene, { start: 2, end: 2, tilesX: 4, tilesY: 2 });
  t.equal(tiles.tasks.length, 8);
  await runAll(tiles);
  t.same(readdirSync(path.join(localOutputDir(tiles.request.output), 'tiles', 'tile-x1-y0')), ['frame_00002.exr'], 'tiles are float EXR: no dither, no rounding before the stitch');
  await stitch(tiles);
  const reference = await blenderItself(scene, 'dither-blender', ['-f', '2']);
  // Measured with Blender 3.4.1: 0 differing bytes (dither applied once, over the whole frame).
  samePixels(t, path.join(localOutputDir(tiles.request.output), 'frame_00002.png'), path.join(reference, 'frame_00002.png'), 'stitched frame 2');
  rmSync(path.join(localOutputDir(tiles.request.output), 'tiles', 'tile-x3-y1', 'frame_00002.exr'));
  const again = await runTaskScript(buildStitchJob(tiles, 1, []).script, 1, dir);
  t.equal(again.code, 75, 'a missing tile fails the stitch');
  t.match(again.stderr, /qfarm-stitch: frame 2: 1 of 8 tiles missing: .*tile-x3-y1\/frame_00002\.exr; rerun the failed tile tasks/);
  t.same(frames(localOutputDir(tiles.request.output)), [], 'and leaves no frame behind');
});

t.test('Workbench (-P ENGINE=BLENDER_WORKBENCH): 3x2 tiles of frame 2, stitched, equal the whole frame', async (t) => {
  const scene = await sceneWith('workbench', 'r.image_settings.file_format = "PNG"');
  const params = { ENGINE: 'BLENDER_WORKBENCH' };
  const whole = job('wb-whole', scene, { start: 2, end: 2 }, params);
  const tiles = job('wb-tiles', scene, { start: 2, end: 2, tilesX: 3, tilesY: 2 }, params);
  await runAll(whole);
  await runAll(tiles);
  await stitch(tiles);
  samePixels(t, path.join(localOutputDir(tiles.request.output), 'frame_00002.png'), path.join(localOutputDir(whole.request.output), 'frame_00002.png'), 'stitched frame 2');
});

t.test('-P overrides change only what they name: FORMAT=PNG, COLOR_DEPTH=8 and SEED=9 on the EXR scene', async (t) => {
  const scene = path.join(dir, 'scenes', 'exr.blend');
  const j = job('exr-as-png', scene, { start: 1, end: 1 }, { FORMAT: 'PNG', COLOR_DEPTH: '8', SEED: '9' });
  t.same(j.manifest.overrides, ['output format PNG (-P FORMAT=PNG)', 'colour depth 8 (-P COLOR_DEPTH=8)', 'Cycles seed 9 (-P SEED=9)', 'file extension on (the farm finds frames as frame_#####.<ext>)']);
  const log = await runAll(j);
  t.match(log, /format PNG 8-bit, seed 9, samples 4/);
  t.same(frames(localOutputDir(j.request.output)), ['frame_00001.png']);
});

t.test("a scene that asks for OpenImageDenoise renders without it on a Blender that lacks it, with a warning", async (t) => {
  const scene = await sceneWith('denoise', 's.cycles.use_denoising = True');
  const j = job('denoise', scene, { start: 1, end: 1 });
  const log = await runAll(j);
  // Debian's Blender 3.4.1 is built without OpenImageDenoise.
  t.match(log, /qfarm-render: warning: the scene asks for the denoiser \(OpenImageDenoise\), which the Blender 3\.4\.1 of .* lacks/);
  t.same(frames(localOutputDir(j.request.output)), ['frame_00001.png']);
});

t.test('Blender exiting 0 without the expected file fails the task', async (t) => {
  // -x 0: Blender writes frame_00001 without the .png extension, happily, and exits 0.
  const j = buildRenderJob({
    name: 'no-extension',
    software: adHocSoftware('blender -b $SCENE -E BLENDER_WORKBENCH -o $OUTDIR/frame_##### -x 0 -s $START -e $END -a', 'frame_#####.png'),
    scene: demo,
    parameters: {},
    plan: { start: 1, end: 1 },
    output: parseOutputLocation(path.join(dir, 'no-extension')),
    cpu: 2,
  });
  const res = await runTaskScript(j.script, 1, dir);
  t.equal(res.code, MISSING_OUTPUT_EXIT, 'the check turns a silent success into a failure');
  t.match(res.stderr, /the renderer exited 0 but 1 of 1 expected file\(s\) are missing/);
  t.same(readdirSync(localOutputDir(j.request.output)), ['frame_00001'], 'Blender did write something, just not what was expected');
});

t.test('a scene that writes a movie is refused with what to do, before anything renders', async (t) => {
  const scene = await sceneWith('movie', 'r.image_settings.file_format = "FFMPEG"');
  const j = job('movie', scene, { start: 1, end: 2, framesPerTask: 2 });
  const res = await runTaskScript(j.script, 1, dir);
  t.equal(res.code, MOVIE_FORMAT_EXIT);
  t.match(res.stderr, /the scene writes a movie \(FFMPEG\), but the farm renders frames.*-P FORMAT=PNG/);
  t.same(frames(localOutputDir(j.request.output)), []);
});
