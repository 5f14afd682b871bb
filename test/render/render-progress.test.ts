import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { RenderProgress, formatDuration } from '../../cli/render/render-progress.js';
import { renderJobFromOptions } from '../../cli/render/render-submit.js';
import { progressLine, type RenderStatus } from '../../cli/render/render-status.js';
import { writtenFiles } from '../../cli/render/written-files.js';
import { createDemoScene } from '../../render/demo-scene.js';
import { ROOT, tempDir } from './helpers.js';

/**
 * Progress of a render as a person watches it: files actually written (frames, tiles), the
 * stitch, a line with an ETA at most every few seconds (or one rewritten line on a terminal),
 * and a render without -s/-e taking the scene's own range from Blender.
 */

execFileSync('/bin/sh', [path.join(ROOT, 'test', 'render', 'ensure-blender.sh')], { stdio: 'inherit' });

function status(over: Partial<RenderStatus>): RenderStatus {
  return {
    renderJobId: 7, name: 'shot', software: 'blender', output: 'file:///x', totalFrames: 4, doneFrames: [], failedFrames: [], runningFrames: [],
    failedTasks: [], tilesX: 1, tilesY: 1, stitchJobId: null, overrides: [], warnings: [], secondsPerFrame: null,
    writtenFrames: null, tiles: null, stitch: null, ...over,
  };
}

t.test('tiles done and the stitch are counted: "tiles 12/16, stitch pending"', async (t) => {
  t.equal(progressLine(status({ tilesX: 2, tilesY: 2, tiles: { done: 12, total: 16 }, stitch: { done: 0, running: 0, total: 4 } })), 'tiles 12/16, stitch pending');
  t.equal(progressLine(status({ tiles: { done: 16, total: 16 }, stitch: { done: 1, running: 2, total: 4 } })), 'tiles 16/16, stitched 1/4, 2 stitching');
  t.equal(progressLine(status({ writtenFrames: [1, 2, 3], tiles: { done: 16, total: 16 }, stitch: { done: 4, running: 0, total: 4 } })), 'written: 3/4 frames; tiles 16/16, stitched');
  t.equal(progressLine(status({})), '', 'oss:// whole frames: accounting only, nothing more to say');
});

t.test('frames and tiles on disk are counted as written, whatever extension the scene gives', async (t) => {
  const dir = tempDir(t, 'qfarm-written-');
  const manifest = {
    version: 1 as const, kind: 'render' as const, name: 'shot', software: 'blender', scene: null, output: `file://${dir}`, outputDir: dir,
    pattern: 'frame_#####.*', step: 1, tilesX: 2, tilesY: 1, tasks: [[1, 3, 0, 0], [1, 3, 1, 0]] as [number, number, number, number][],
  };
  t.same(writtenFiles(manifest), { frames: [], tiles: 0 }, 'nothing yet, and no directory yet, is no error');
  mkdirSync(path.join(dir, 'tiles', 'tile-x0-y0'), { recursive: true });
  mkdirSync(path.join(dir, 'tiles', 'tile-x1-y0'), { recursive: true });
  for (const f of ['tiles/tile-x0-y0/frame_00001.exr', 'tiles/tile-x0-y0/frame_00002.exr', 'tiles/tile-x1-y0/frame_00001.exr', 'frame_00001.jpg', 'frame_00002.png.part']) writeFileSync(path.join(dir, f), 'x');
  t.same(writtenFiles(manifest), { frames: [1], tiles: 3 }, 'a half-written frame_00002.png.part is not a frame');
  t.equal(writtenFiles({ ...manifest, output: 'oss://b/p/', outputDir: '$OUTDIR' }), null, 'oss:// output: not on this disk');
});

t.test('a pipe gets a line every few seconds with an ETA; a terminal one rewritten line', async (t) => {
  let now = 0;
  const lines: string[] = [];
  const pipe = new RenderProgress({ write: (s) => lines.push(s), tty: false, now: () => now });
  pipe.report(status({ writtenFrames: [] }));
  now = 2_000;
  pipe.report(status({ writtenFrames: [1] }));
  now = 10_000;
  pipe.report(status({ writtenFrames: [1, 2] }));
  now = 12_000;
  pipe.report(status({ writtenFrames: [1, 2] }));
  t.same(lines, [
    'qfarm render: job 7: 0/4 frames done; written: 0/4 frames; 0s elapsed, ETA unknown yet\n',
    'qfarm render: job 7: 0/4 frames done; written: 2/4 frames; 10s elapsed, ETA 10s\n',
  ], 'the change at 2 s waits for the interval; nothing new at 12 s prints nothing');
  const tty: string[] = [];
  const term = new RenderProgress({ write: (s) => tty.push(s), tty: true, now: () => now });
  term.report(status({ doneFrames: [1], writtenFrames: [1] }));
  term.report(status({ doneFrames: [1], writtenFrames: [1] }));
  term.finish();
  t.same(tty.map((s) => s.slice(0, 1)), ['\r', '\r', '\n'], 'one line, rewritten in place, ended once');
  t.equal(formatDuration(3_725_000), '1h02m');
  t.equal(formatDuration(65_000), '1m05s');
});

t.test("without -s/-e a Blender render takes the scene's own frame range", async (t) => {
  const dir = tempDir(t, 'qfarm-range-');
  const scene = path.join(dir, 'shot.blend');
  await createDemoScene(scene, 5);
  const warnings: string[] = [];
  const ctx = { cwd: dir, environment: { PATH: process.env.PATH, QFARM_HOME: path.join(dir, 'home') } };
  const job = renderJobFromOptions({ scene }, ctx, (l) => warnings.push(l));
  t.same(job.plan.frames, [1, 2, 3, 4, 5]);
  t.match(warnings.join('\n'), /frames 1-5: the scene's own range/);
  const missing = (() => {
    try {
      renderJobFromOptions({ scene }, { ...ctx, environment: { ...ctx.environment, PATH: path.join(dir, 'empty') } });
    } catch (err) {
      return err as Error & { hint?: string };
    }
    return null;
  })();
  t.match(missing?.message, /no frame range: -s\/-e not given, so the scene's own range is read with Blender, but 'blender' is not on this machine's PATH/);
  t.match(missing?.hint, /give -s START -e END, or install Blender/);
  t.throws(() => renderJobFromOptions({ scene: 'oss://bucket/shots/a.blend' }, ctx), /give -s START -e END for oss:\/\/bucket\/shots\/a\.blend/);
  t.throws(() => renderJobFromOptions({ template: 'echo $START', scene }, ctx), /no frame range: give -s START/);
});
