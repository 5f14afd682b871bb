import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { readManifest } from '../../render/manifest.js';
import { localOutputDir, parseOutputLocation } from '../../render/output-location.js';
import { buildRenderJob } from '../../render/render-job.js';
import { adHocSoftware } from '../../render/software.js';
import { MISSING_OUTPUT_EXIT, UNKNOWN_TASK_EXIT } from '../../render/task-script.js';
import { runTaskScript, tempDir, writeFakeRenderer } from './helpers.js';

function job(dir: string, mode: string, plan = { start: 1, end: 7, step: 2, framesPerTask: 2 }) {
  const renderer = writeFakeRenderer(dir);
  // Output under a directory whose name would break any unquoted use.
  const out = path.join(dir, `out it's $(touch ${path.join(dir, 'pwned')}) "x"`);
  return buildRenderJob({
    name: 'fake',
    software: adHocSoftware(`${renderer} $OUTDIR $START $END $STEP $MODE`, 'frame_####.png'),
    scene: null,
    parameters: { MODE: mode },
    plan,
    output: parseOutputLocation(out),
    cpu: null,
  });
}

t.test('each task renders its chunk; the check finds every frame', async (t) => {
  const dir = tempDir(t, 'qfarm-script-');
  const j = job(dir, 'ok');
  t.same(j.tasks.map((x) => x.frames), [[1, 3], [5, 7]]);
  for (const task of j.tasks) {
    const res = await runTaskScript(j.script, task.taskId, dir);
    t.equal(res.code, 0, res.stderr);
    t.match(res.stdout, new RegExp(`task ${task.taskId} \\(frames ${task.start}-${task.end}:2\\): wrote 2 file\\(s\\)`));
  }
  t.same(readdirSync(localOutputDir(j.request.output)).filter((n) => n.endsWith('.png')).sort(), ['frame_0001.png', 'frame_0003.png', 'frame_0005.png', 'frame_0007.png']);
  t.notOk(existsSync(path.join(dir, 'pwned')), 'the hostile directory name ran nothing');
});

t.test('a renderer that exits 0 without output fails the task with a clear message', async (t) => {
  const dir = tempDir(t, 'qfarm-script-');
  const j = job(dir, 'nothing');
  // A stale frame from an earlier attempt must not count as output.
  mkdirSync(localOutputDir(j.request.output), { recursive: true });
  writeFileSync(path.join(localOutputDir(j.request.output), 'frame_0001.png'), 'old');
  const res = await runTaskScript(j.script, 1, dir);
  t.equal(res.code, MISSING_OUTPUT_EXIT);
  t.match(res.stderr, /expected output .*frame_0001.png was not written/);
  t.match(res.stderr, /expected output .*frame_0003.png was not written/);
  t.match(res.stderr, /task 1 \(frames 1-3:2\): the renderer exited 0 but 2 of 2 expected file\(s\) are missing/);
  t.notOk(existsSync(path.join(localOutputDir(j.request.output), 'frame_0001.png')), 'the stale file was removed before rendering');
});

t.test("a failing renderer's exit status is the task's", async (t) => {
  const dir = tempDir(t, 'qfarm-script-');
  const res = await runTaskScript(job(dir, 'fail').script, 2, dir);
  t.equal(res.code, 5);
  t.match(res.stderr, /fake-render: boom/);
  t.match(res.stderr, /task 2 \(frames 5-7:2\): the renderer exited with status 5/);
});

t.test('a task id the job does not have, or none, exits 2 saying so', async (t) => {
  const dir = tempDir(t, 'qfarm-script-');
  const j = job(dir, 'ok');
  const res = await runTaskScript(j.script, 3, dir);
  t.equal(res.code, UNKNOWN_TASK_EXIT);
  t.match(res.stderr, /no task '3' \(its tasks are 1-2\)/);
  t.equal((await runTaskScript(j.script, null, dir)).code, UNKNOWN_TASK_EXIT);
});

t.test('$CPU is the task slots at run time unless fixed', async (t) => {
  const dir = tempDir(t, 'qfarm-script-');
  const mk = (cpu: number | null) =>
    buildRenderJob({ name: 'cpu', software: adHocSoftware('echo cpu=$CPU', null), scene: null, parameters: {}, plan: { start: 1, end: 1 }, output: parseOutputLocation(dir), cpu });
  t.match((await runTaskScript(mk(null).script, 1, dir, { NSLOTS: '6' })).stdout, /cpu=6/);
  t.match((await runTaskScript(mk(null).script, 1, dir)).stdout, /cpu=0/);
  t.match((await runTaskScript(mk(3).script, 1, dir, { NSLOTS: '6' })).stdout, /cpu=3/);
});

t.test('the script carries a manifest mapping task ids to frames and tiles', async (t) => {
  const dir = tempDir(t, 'qfarm-script-');
  const j = job(dir, 'ok', { start: 1, end: 3, step: 1, framesPerTask: 1 });
  const manifest = readManifest(j.script);
  t.equal(manifest?.kind, 'render');
  if (manifest?.kind !== 'render') return;
  t.same(manifest.tasks, [[1, 1, -1, -1], [2, 2, -1, -1], [3, 3, -1, -1]]);
  t.equal(manifest.outputDir, localOutputDir(j.request.output));
  t.equal(readManifest('#!/bin/sh\necho hi\n'), null);
});

t.test("oss:// output: each task writes into the agent's $OUTDIR (tiles in their sub-directory) and checks it there", async (t) => {
  const dir = tempDir(t, 'qfarm-script-');
  const renderer = writeFakeRenderer(dir);
  const j = buildRenderJob({
    name: 'oss',
    software: adHocSoftware(`${renderer} $OUTDIR $START $END $STEP $MODE $SF_MIN_X`, 'frame_####.png'),
    scene: null,
    parameters: { MODE: 'ok' },
    plan: { start: 4, end: 4, tilesX: 2 },
    output: parseOutputLocation('oss://studio/out/'),
    cpu: null,
  });
  t.same(j.data, { inputs: [], outputUrl: 'oss://studio/out/' });
  // A hostile $OUTDIR value stays one word: it is expanded in double quotes, never parsed.
  const outdir = path.join(dir, `agent $(touch ${path.join(dir, 'pwned')}) it's`);
  mkdirSync(outdir, { recursive: true });
  const res = await runTaskScript(j.script, 2, dir, { OUTDIR: outdir });
  t.equal(res.code, 0, res.stderr);
  t.same(readdirSync(path.join(outdir, 'tiles', 'tile-x1-y0')), ['frame_0004.png']);
  t.notOk(existsSync(path.join(dir, 'pwned')));

  const nothing = await runTaskScript(j.script.replaceAll("'ok'", "'nothing'"), 1, dir, { OUTDIR: outdir });
  t.equal(nothing.code, MISSING_OUTPUT_EXIT);
  t.match(nothing.stderr, /expected output .*tiles\/tile-x0-y0\/frame_0004\.png was not written/);

  const noOutdir = await runTaskScript(j.script, 1, dir);
  t.not(noOutdir.code, 0, 'no OUTDIR: the task fails instead of writing into /tiles');
  t.match(noOutdir.stderr, /the agent set no OUTDIR for this task/);
});

t.test("an output pattern ending in .* takes the renderer's extension; stale files of any extension go first", async (t) => {
  const dir = tempDir(t, 'qfarm-script-');
  const renderer = writeFakeRenderer(dir);
  // The fake writes .png; the pattern accepts whatever extension the scene's format gives.
  const out = path.join(dir, `out [*] it's $(touch ${path.join(dir, 'pwned')})`);
  const mk = (mode: string) =>
    buildRenderJob({ name: 'any', software: adHocSoftware(`${renderer} $OUTDIR $START $END $STEP ${mode}`, 'frame_####.*'), scene: null, parameters: {}, plan: { start: 1, end: 2, framesPerTask: 2 }, output: parseOutputLocation(out), cpu: null });
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'frame_0001.exr'), 'stale, from an attempt with another format');
  writeFileSync(path.join(out, 'frame_0010.exr'), 'another frame: not ours to remove');
  const ok = await runTaskScript(mk('ok').script, 1, dir);
  t.equal(ok.code, 0, ok.stderr);
  t.same(readdirSync(out).sort(), ['frame_0001.png', 'frame_0002.png', 'frame_0010.exr'], 'the stale .exr of frame 1 was removed, frame 10 left alone');
  const nothing = await runTaskScript(mk('nothing').script, 1, dir);
  t.equal(nothing.code, MISSING_OUTPUT_EXIT);
  t.match(nothing.stderr, /expected output .*frame_0001\.\* was not written/);
  t.notOk(existsSync(path.join(dir, 'pwned')));
});
