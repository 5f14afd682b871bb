import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ApiClient } from '../../cli/api-client.js';
import { locateMaster } from '../../cli/master-location.js';
import { renderStatus, formatRenderStatus } from '../../cli/render/render-status.js';
import { fetchTaskLog } from '../../cli/render/task-log.js';
import { createDemoScene } from '../../render/demo-scene.js';
import { readPng } from '../../render/png.js';
import { TestFarm } from '../helpers/farm.js';
import { BYSTANDER, ensureUser, requireRoot } from '../helpers/unix-users.js';
import { ROOT, run } from './helpers.js';

/**
 * End to end on a real farm (built master and agent processes), as an ordinary user would:
 * `qfarm render submit` of a Blender animation in chunks, the same frames as tiles stitched by
 * Blender, a scene asking for a denoiser the worker's Blender lacks, a failing task, and
 * `qfarm render status` over all of it. Frames belong to the user: tasks ran as them.
 */

requireRoot();
execFileSync('/bin/sh', [path.join(ROOT, 'test', 'render', 'ensure-blender.sh')], { stdio: 'inherit' });

t.test('render jobs of an ordinary user on the embedded farm', async (t) => {
  const user = ensureUser(BYSTANDER);
  const farm = await TestFarm.start(t, { agents: 1, slots: 2 });
  const work = mkdtempSync(path.join(user.home, 'render-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const scene = path.join(work, 'scenes', 'demo shot.blend');
  mkdirSync(path.dirname(scene), { recursive: true });
  await createDemoScene(scene, 4);
  const denoised = path.join(work, 'scenes', 'denoised.blend');
  const made = await run('blender', ['-b', scene, '--python-expr', `import bpy\nbpy.context.scene.cycles.use_denoising = True\nbpy.ops.wm.save_as_mainfile(filepath=${JSON.stringify(denoised)})`]);
  t.equal(made.code, 0, made.stderr);
  for (const p of [work, path.dirname(scene), scene, denoised]) chownSync(p, user.uid, user.gid);
  const environment = { ...process.env, QFARM_HOME: farm.home };
  delete environment.QFARM_MASTER;
  delete environment.QFARM_TOKEN;
  const api = new ApiClient(locateMaster(environment));
  const logs = (job: number, task: number) => fetchTaskLog(locateMaster(environment), job, task);
  const submit = async (args: string[]): Promise<number[]> => {
    const res = await farm.runAs(user, 'qfarm', ['render', 'submit', ...args], { cwd: work });
    if (res.code !== 0) t.fail(`qfarm render submit ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
    return [...res.stdout.matchAll(/Your job-array (\d+)\./g)].map((m) => Number(m[1]));
  };

  const [chunks] = await submit(['--scene', scene, '-s', '1', '-e', '4', '-S', '2', '--cpu', '1', '--outdir', 'chunks']);
  const [tiles, stitch] = await submit(['--scene', scene, '-s', '2', '-e', '3', '-X', '2', '-Y', '1', '--cpu', '1', '--outdir', 'tiles', '-N', 'tiled']);
  const [denoise] = await submit(['--scene', denoised, '--debug-frame', '1', '--cpu', '1', '--outdir', 'denoised']);
  t.ok(chunks && tiles && stitch && denoise, 'four jobs submitted');
  for (const id of [chunks!, tiles!, stitch!, denoise!]) await farm.waitForJob(id, 180_000);

  t.test('chunks: every frame at the scene size, written by the user, no scene setting changed', async (t) => {
    for (const f of [1, 2, 3, 4]) {
      const file = path.join(work, 'chunks', `frame_0000${f}.png`);
      const image = readPng(file);
      t.same([image.width, image.height], [320, 180], `frame ${f}`);
      t.equal(statSync(file).uid, user.uid, `frame ${f} belongs to ${user.name}: the task ran as them`);
    }
    const status = await renderStatus(api, chunks!, logs);
    t.same(status.doneFrames, [1, 2, 3, 4]);
    t.same(status.failedFrames, []);
    t.same(status.overrides, ['file extension on (the farm finds frames as frame_#####.<ext>)']);
    t.same(status.warnings, []);
    t.ok(status.secondsPerFrame && status.secondsPerFrame.frames === 4 && status.secondsPerFrame.mean > 0);
    t.comment(formatRenderStatus(status).join('\n'));
  });

  t.test('tiles: Blender stitched frames equal to the whole-frame render (dither 1.0 kept)', async (t) => {
    for (const f of [2, 3]) {
      const whole = readPng(path.join(work, 'chunks', `frame_0000${f}.png`));
      const stitched = readPng(path.join(work, 'tiles', `frame_0000${f}.png`));
      t.ok(stitched.data.equals(whole.data), `frame ${f} bit-identical`);
    }
    t.ok(existsSync(path.join(work, 'tiles', 'tiles', 'tile-x0-y0', 'frame_00002.exr')), 'tiles are float EXR');
    const status = await renderStatus(api, tiles!, logs);
    t.equal(status.stitchJobId, stitch);
    t.same(status.doneFrames, [2, 3], 'done means rendered and stitched');
    t.match(formatRenderStatus(status).join('\n'), /scene settings changed .*\n {2}file extension on .*\n {2}tiles: border cropped, written as multilayer 32-bit EXR/);
    const viaStitch = await renderStatus(api, stitch!, logs);
    t.equal(viaStitch.renderJobId, tiles, 'status of the stitch job reports the render');
  });

  t.test("the denoiser the worker's Blender lacks is switched off and reported by status", async (t) => {
    t.ok(existsSync(path.join(work, 'denoised', 'frame_00001.png')));
    const status = await renderStatus(api, denoise!, logs);
    t.same(status.doneFrames, [1]);
    t.equal(status.warnings.length, 1);
    t.match(formatRenderStatus(status).join('\n'), /warning: .*: the scene asks for the denoiser \(OpenImageDenoise\), which the Blender 3\.4\.1 of .* lacks/);
  });

  t.test('a task that wrote nothing is a failed frame, with its log lines', async (t) => {
    const res = await farm.runAs(user, 'qfarm', ['render', 'submit', '-T', 'blender -b $SCENE -E BLENDER_WORKBENCH -o $OUTDIR/frame_##### -x 0 -s $START -e $END -a', '--expect', 'frame_#####.png', '--scene', scene, '--debug-frame', '2', '--outdir', 'bad', '-N', 'bad', '--wait'], { cwd: work });
    const bad = Number(/Your job-array (\d+)\./.exec(res.stdout)?.[1]);
    t.ok(await farm.jobFinished(bad), '--wait returned once the job had finished');
    const status = await renderStatus(api, bad, logs);
    t.same(status.failedFrames, [2]);
    t.equal(status.failedTasks[0]?.exitStatus, 73);
    t.match(status.failedTasks[0]?.logTail.join('\n'), /expected file\(s\) are missing/);
    const text = formatRenderStatus(status).join('\n');
    t.match(text, /frames: 0\/1 done, 1 failed, 0 running, 0 pending/);
    t.match(text, /frame 2 \(task 1\) on .*: exit status 73/);
    t.notOk(existsSync(path.join(work, 'bad', 'frame_00002.png')));
  });
});
