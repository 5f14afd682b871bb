import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { createDemoScene } from '../../render/demo-scene.js';
import { localOutputDir, parseOutputLocation } from '../../render/output-location.js';
import { readPng, type Image } from '../../render/png.js';
import { buildRenderJob, buildStitchJob, type RenderJob } from '../../render/render-job.js';
import { adHocSoftware, BLENDER } from '../../render/software.js';
import { MISSING_OUTPUT_EXIT } from '../../render/task-script.js';
import type { PlanOptions } from '../../render/plan.js';
import { ROOT, runTaskScript, stitchCommandFromSource, tempDir } from './helpers.js';

/**
 * Real Blender, headless: chunks, tiles stitched back into frames and compared with whole
 * frames, and the output check when Blender exits 0 without writing the expected file.
 */

// Not a skip: without Blender this installs it (CI runs as root on Debian) or fails.
execFileSync('/bin/sh', [path.join(ROOT, 'test', 'render', 'ensure-blender.sh')], { stdio: 'inherit' });

const dir = tempDir(t, 'qfarm-blender-');
const scene = path.join(dir, `scenes/my "shot" it's.blend`);

function job(name: string, plan: PlanOptions, parameters: Record<string, string> = {}): RenderJob {
  return buildRenderJob({ name, software: BLENDER, scene, parameters, plan, output: parseOutputLocation(path.join(dir, name)), cpu: 2 });
}

async function runAll(j: RenderJob): Promise<void> {
  for (const task of j.tasks) {
    const res = await runTaskScript(j.script, task.taskId, dir);
    if (res.code !== 0) throw new Error(`${j.request.name} task ${task.taskId} exited ${res.code}:\n${res.stdout.slice(-2000)}\n${res.stderr.slice(-2000)}`);
  }
}

async function stitch(j: RenderJob): Promise<void> {
  const s = buildStitchJob(j, 1, stitchCommandFromSource());
  for (let i = 1; i <= s.manifest.frames.length; i++) {
    const res = await runTaskScript(s.script, i, dir);
    if (res.code !== 0) throw new Error(`stitch task ${i} exited ${res.code}: ${res.stdout}${res.stderr}`);
  }
}

function difference(a: Image, b: Image): { max: number; mean: number; differing: number } {
  let max = 0;
  let sum = 0;
  let differing = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!);
    if (d > 0) differing++;
    if (d > max) max = d;
    sum += d;
  }
  return { max, mean: sum / a.data.length, differing };
}

t.before(async () => {
  mkdirSync(path.dirname(scene), { recursive: true });
  await createDemoScene(scene, 6);
});

t.test('a chunked Cycles render writes every frame at the scene size', async (t) => {
  const chunks = job('chunks', { start: 1, end: 5, framesPerTask: 2 });
  t.equal(chunks.tasks.length, 3);
  await runAll(chunks);
  const files = readdirSync(localOutputDir(chunks.request.output)).filter((n) => n.endsWith('.png')).sort();
  t.same(files, ['frame_00001.png', 'frame_00002.png', 'frame_00003.png', 'frame_00004.png', 'frame_00005.png']);
  const images = files.map((f) => readPng(path.join(localOutputDir(chunks.request.output), f)));
  for (const image of images) t.same([image.width, image.height, image.channels], [320, 180, 4], "Blender's PNG decodes: 320x180 RGBA");
  t.notOk(images[0]!.data.equals(images[4]!.data), 'the animation moves between frame 1 and 5');
});

t.test('Cycles: frame 3 as 2x2 tiles, stitched, equals frame 3 rendered whole', async (t) => {
  const whole = job('cycles-whole', { start: 3, end: 3 });
  const tiles = job('cycles-tiles', { start: 3, end: 3, tilesX: 2, tilesY: 2 });
  t.equal(tiles.tasks.length, 4);
  await runAll(whole);
  await runAll(tiles);
  const tile = readPng(path.join(localOutputDir(tiles.request.output), 'tiles', 'tile-x1-y0', 'frame_00003.png'));
  t.same([tile.width, tile.height], [160, 90], 'tiles are cropped to their border');
  await stitch(tiles);
  const a = readPng(path.join(localOutputDir(whole.request.output), 'frame_00003.png'));
  const b = readPng(path.join(localOutputDir(tiles.request.output), 'frame_00003.png'));
  t.same([b.width, b.height, b.channels], [a.width, a.height, a.channels]);
  const d = difference(a, b);
  t.comment(`Cycles 8 spp, seed 0, dither 0: stitched vs whole: max ${d.max}/255, mean ${d.mean.toFixed(4)}, ${d.differing} differing bytes of ${a.data.length}`);
  // Measured with Blender 3.4: exactly equal (Cycles seeds each pixel by its frame position).
  t.equal(d.max, 0, 'bit-identical');
});

t.test('Workbench: 3x2 tiles of frame 2 stitched are bit-identical to the whole frame', async (t) => {
  const params = { ENGINE: 'BLENDER_WORKBENCH' };
  const whole = job('wb-whole', { start: 2, end: 2 }, params);
  const tiles = job('wb-tiles', { start: 2, end: 2, tilesX: 3, tilesY: 2 }, params);
  await runAll(whole);
  await runAll(tiles);
  await stitch(tiles);
  const a = readPng(path.join(localOutputDir(whole.request.output), 'frame_00002.png'));
  const b = readPng(path.join(localOutputDir(tiles.request.output), 'frame_00002.png'));
  const d = difference(a, b);
  t.comment(`Workbench stitched vs whole: max ${d.max}/255, ${d.differing} differing bytes`);
  t.equal(d.max, 0);
});

t.test('Blender exiting 0 without the expected file fails the task', async (t) => {
  // -x 0: Blender writes frame_00001 without the .png extension, happily, and exits 0.
  const j = buildRenderJob({
    name: 'no-extension',
    software: adHocSoftware('blender -b $SCENE -E BLENDER_WORKBENCH -o $OUTDIR/frame_##### -x 0 -s $START -e $END -a', 'frame_#####.png'),
    scene,
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
