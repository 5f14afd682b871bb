import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ApiClient } from '../../cli/api-client.js';
import { locateMaster } from '../../cli/master-location.js';
import { renderStatus, formatRenderStatus } from '../../cli/render/render-status.js';
import { renderSubmit, type RenderSubmitOptions } from '../../cli/render/render-submit.js';
import { fetchTaskLog } from '../../cli/render/task-log.js';
import { createDemoScene } from '../../render/demo-scene.js';
import { readPng } from '../../render/png.js';
import { TestFarm } from '../helpers/farm.js';
import { ROOT, stitchCommandFromSource } from './helpers.js';

/**
 * End to end on a real farm (built master and agent processes): `qfarm render submit` of a
 * Blender animation in chunks, the same frames as tiles with the stitch job holding on them,
 * a failing task, and `qfarm render status` over all of it.
 */

execFileSync('/bin/sh', [path.join(ROOT, 'test', 'render', 'ensure-blender.sh')], { stdio: 'inherit' });

t.test('render jobs on the embedded farm', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, slots: 2 });
  const scene = path.join(farm.work, 'scenes', 'demo shot.blend');
  mkdirSync(path.dirname(scene), { recursive: true });
  await createDemoScene(scene, 4);
  const environment = { ...process.env, QFARM_HOME: farm.home };
  delete environment.QFARM_MASTER;
  delete environment.QFARM_TOKEN;
  const api = new ApiClient(locateMaster(environment));
  const logs = (job: number, task: number) => fetchTaskLog(locateMaster(environment), job, task);
  const lines: string[] = [];
  const submit = (options: RenderSubmitOptions) =>
    renderSubmit(options, { cwd: farm.work, environment, out: (l) => lines.push(l), err: (l) => lines.push(l), stitchCommand: stitchCommandFromSource() });

  const chunks = await submit({ scene, start: 1, end: 4, framesPerTask: 2, cpu: 1, outdir: 'chunks' });
  const tiles = await submit({ scene, start: 2, end: 3, tilesX: 2, tilesY: 1, cpu: 1, outdir: 'tiles', name: 'tiled' });
  t.match(lines.join('\n'), /Your job-array \d+\.1-2:1 \("demo shot"\) has been submitted/);
  t.match(lines.join('\n'), /Your job-array \d+\.1-2:1 \("tiled\.stitch"\) has been submitted/);
  t.ok(chunks.renderJobId && tiles.renderJobId && tiles.stitchJobId);
  for (const id of [chunks.renderJobId!, tiles.renderJobId!, tiles.stitchJobId!]) await farm.waitForJob(id, 120_000);

  t.test('chunks: every frame, at the scene size', async (t) => {
    for (const f of [1, 2, 3, 4]) {
      const image = readPng(path.join(farm.work, 'chunks', `frame_0000${f}.png`));
      t.same([image.width, image.height], [320, 180], `frame ${f}`);
    }
    const status = await renderStatus(api, chunks.renderJobId!, logs);
    t.same(status.doneFrames, [1, 2, 3, 4]);
    t.same(status.failedFrames, []);
    t.ok(status.secondsPerFrame && status.secondsPerFrame.frames === 4 && status.secondsPerFrame.mean > 0);
    t.comment(formatRenderStatus(status).join('\n'));
  });

  t.test('tiles: the stitch job made frames equal to the whole-frame render', async (t) => {
    for (const f of [2, 3]) {
      const whole = readPng(path.join(farm.work, 'chunks', `frame_0000${f}.png`));
      const stitched = readPng(path.join(farm.work, 'tiles', `frame_0000${f}.png`));
      t.ok(stitched.data.equals(whole.data), `frame ${f} bit-identical`);
    }
    const status = await renderStatus(api, tiles.renderJobId!, logs);
    t.equal(status.stitchJobId, tiles.stitchJobId);
    t.same(status.doneFrames, [2, 3], 'done means rendered and stitched');
    const viaStitch = await renderStatus(api, tiles.stitchJobId!, logs);
    t.equal(viaStitch.renderJobId, tiles.renderJobId, 'status of the stitch job reports the render');
  });

  t.test('a task that wrote nothing is a failed frame, with its log lines', async (t) => {
    const bad = await submit({
      template: 'blender -b $SCENE -E BLENDER_WORKBENCH -o $OUTDIR/frame_##### -x 0 -s $START -e $END -a',
      expect: 'frame_#####.png',
      scene,
      debugFrame: 2,
      outdir: 'bad',
      name: 'bad',
      wait: true,
    });
    t.ok(await farm.jobFinished(bad.renderJobId!), '--wait returned once the job had finished');
    const status = await renderStatus(api, bad.renderJobId!, logs);
    t.same(status.failedFrames, [2]);
    t.equal(status.failedTasks[0]?.exitStatus, 73);
    t.match(status.failedTasks[0]?.logTail.join('\n'), /expected file\(s\) are missing/);
    const text = formatRenderStatus(status).join('\n');
    t.match(text, /frames: 0\/1 done, 1 failed, 0 running, 0 pending/);
    t.match(text, /frame 2 \(task 1\) on .*: exit status 73/);
    t.notOk(existsSync(path.join(farm.work, 'bad', 'frame_00002.png')));
  });
});
