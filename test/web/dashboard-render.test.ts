import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createDemoScene } from '../../render/demo-scene.js';
import { decodePng } from '../../render/png.js';
import { ROOT, TestFarm } from '../helpers/farm.js';
import { BYSTANDER, ensureUser, requireRoot } from '../helpers/unix-users.js';
import { launchChromium, screenshot, watchPage } from './browser.js';

/**
 * Issue 10: a render job's frame grid. A user renders a small Blender animation with
 * `qfarm render submit`; each task prints thumbnails of its checked frames (render/thumbnail.ts)
 * and the dashboard shows them as they arrive, with time per frame.
 */

execFileSync('/bin/sh', [path.join(ROOT, 'test', 'render', 'ensure-blender.sh')], { stdio: 'inherit' });

t.test('thumbnails of a Blender render appear in the frame grid', async (t) => {
  requireRoot();
  const bob = ensureUser(BYSTANDER);
  const farm = await TestFarm.start(t, { agents: 1, slots: 2 });
  // The scene lives where bob may read it; the frames go to bob's home.
  const sceneDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-web-scene-'));
  t.teardown(() => fs.rmSync(sceneDir, { recursive: true, force: true }));
  fs.chmodSync(sceneDir, 0o755);
  const scene = path.join(sceneDir, 'shot.blend');
  await createDemoScene(scene, 4);
  fs.chmodSync(scene, 0o644);
  const outdir = path.join(bob.home, 'web-frames');
  fs.rmSync(outdir, { recursive: true, force: true });
  const submitted = await farm.runAs(bob, 'qfarm', ['render', 'submit', '--scene', scene, '-s', '1', '-e', '4', '--cpu', '1', '-q', 'default', '--outdir', outdir, '-N', 'shot'], { cwd: bob.home });
  t.equal(submitted.code, 0, submitted.stderr);
  const jobId = Number(/job-array (\d+)\./.exec(submitted.stdout)?.[1]);

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await (await browser.newContext({ viewport: { width: 1360, height: 900 } })).newPage();
  const watch = watchPage(page);
  const link = /(http\S+\/web\/sign-in\?token=\S+)/.exec((await farm.runAs(bob, 'qfarm', ['web'])).stdout)?.[1];
  await page.goto(link!);
  await page.goto(`${farm.url}/#/job/${jobId}`);
  // Wait on what the page shows, but say why when a frame failed instead of timing out blind.
  const deadline = Date.now() + 180_000;
  for (;;) {
    const grid = (await (await page.request.get(`${farm.url}/api/v1/web/jobs/${jobId}/frames?offset=0&limit=10`)).json()) as { frames: { frame: number; state: string; thumbnail: string | null; lastLines: string[] }[] };
    const failed = grid.frames.filter((f) => f.state === 'failed');
    if (failed.length > 0) throw new Error(`frames failed: ${JSON.stringify(failed)}`);
    if (grid.frames.length === 4 && grid.frames.every((f) => f.thumbnail)) break;
    if (Date.now() > deadline) throw new Error(`no thumbnails after 180 s: ${JSON.stringify(grid.frames.map((f) => [f.frame, f.state, f.thumbnail !== null]))}`);
    await page.waitForTimeout(1000);
  }
  for (const frame of [1, 2, 3, 4]) await page.locator(`figure[data-frame="${frame}"] img`).waitFor({ timeout: 10_000 });
  t.pass('every frame got its thumbnail, pushed live as tasks finished');
  const src = await page.locator('figure[data-frame="2"] img').getAttribute('src');
  const res = await page.request.get(farm.url + src!);
  t.equal(res.headers()['content-type'], 'image/png');
  const thumb = decodePng(await res.body());
  t.equal(thumb.width, 160, 'the 320x180 frame is thumbnailed to 160 wide');
  t.equal(thumb.height, 90);
  t.ok(await page.evaluate(() => (document.querySelector('figure[data-frame="3"] img') as HTMLImageElement).naturalWidth === 160), 'the browser decoded it');
  await page.locator('.frame-times canvas').waitFor({ timeout: 10_000 });
  await screenshot(page, 'render');
  t.ok(fs.existsSync(path.join(outdir, 'frame_00004.png')), 'the frames themselves are where the user asked');

  // The download link: a tar made by tar running as bob (his home is 0700 to everyone else).
  const href = await page.locator('a.download').getAttribute('href');
  const tar = await (await page.request.get(farm.url + href!)).body();
  const names: string[] = [];
  for (let at = 0; at + 512 <= tar.length; ) {
    const name = tar.subarray(at, at + 100).toString('utf8').replace(/\0.*$/s, '');
    if (name === '') break;
    const size = Number.parseInt(tar.subarray(at + 124, at + 136).toString('utf8').replace(/\0.*$/s, '').trim(), 8);
    names.push(name);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  t.same(names, ['frame_00001.png', 'frame_00002.png', 'frame_00003.png', 'frame_00004.png']);
  t.ok(tar.includes(fs.readFileSync(path.join(outdir, 'frame_00002.png'))), 'with the frames\' bytes');
  t.same(watch.errors, []);
  t.same(watch.dialogs, []);
});
