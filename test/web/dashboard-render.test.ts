import t from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import type { FrameView } from '../../protocol/web-api.js';
import { createDemoScene } from '../../render/demo-scene.js';
import { decodePng, type Image } from '../../render/png.js';
import { ROOT, TestFarm } from '../helpers/farm.js';
import { BYSTANDER, ensureUser, requireRoot } from '../helpers/unix-users.js';
import { launchChromium, screenshot, watchPage, type PageWatch } from './browser.js';

/**
 * Issue 10: a render job's frame grid. A user renders the demo scene with `qfarm render submit`
 * in the scene's own formats, not PNG: whole frames as OpenEXR, and a frame in two tiles that
 * Blender stitches into a 16-bit TIFF. Blender writes each frame's thumbnail itself
 * (render/blender-thumbnail.ts) and the dashboard shows them as they arrive, with time per
 * frame; a frame that failed shows its last log lines.
 */

execFileSync('/bin/sh', [path.join(ROOT, 'test', 'render', 'ensure-blender.sh')], { stdio: 'inherit' });

/** The job's frame grid once every frame is done with a thumbnail; says why a frame failed instead of timing out blind. */
async function waitForThumbnails(page: Page, url: string, jobId: number, frames: number): Promise<FrameView[]> {
  const deadline = Date.now() + 240_000;
  for (;;) {
    const grid = (await (await page.request.get(`${url}/api/v1/web/jobs/${jobId}/frames?offset=0&limit=10`)).json()) as { frames: FrameView[] };
    const failed = grid.frames.filter((f) => f.state === 'failed');
    if (failed.length > 0) throw new Error(`frames of job ${jobId} failed: ${JSON.stringify(failed)}`);
    if (grid.frames.length === frames && grid.frames.every((f) => f.thumbnail)) return grid.frames;
    if (Date.now() > deadline) throw new Error(`job ${jobId}: no thumbnails after 240 s: ${JSON.stringify(grid.frames.map((f) => [f.frame, f.state, f.thumbnail !== null]))}`);
    await page.waitForTimeout(1000);
  }
}

/** Waits for the page to show each frame's thumbnail; says what the page showed instead of timing out blind. */
async function waitForFrameImages(page: Page, frames: number[], watch: PageWatch): Promise<void> {
  try {
    for (const frame of frames) await page.locator(`figure[data-frame="${frame}"] img`).waitFor({ timeout: 10_000 });
  } catch (err) {
    const grid = await page.locator('main').innerHTML().catch((e: Error) => `(unreadable: ${e.message})`);
    throw new Error(`${(err as Error).message}\nthe page showed: ${grid.slice(0, 4000)}\npage errors: ${JSON.stringify(watch.errors)}\nconsole: ${JSON.stringify(watch.console.slice(-20))}`);
  }
}

/** Mean absolute difference of two images' samples, in 8-bit levels. */
function meanDifference(a: Image, b: Image): number {
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i]! - b.data[i]!);
  return sum / a.data.length;
}

function tarNames(tar: Buffer): string[] {
  const names: string[] = [];
  for (let at = 0; at + 512 <= tar.length; ) {
    const name = tar.subarray(at, at + 100).toString('utf8').replace(/\0.*$/s, '');
    if (name === '') break;
    const size = Number.parseInt(tar.subarray(at + 124, at + 136).toString('utf8').replace(/\0.*$/s, '').trim(), 8);
    names.push(name);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}

t.test('thumbnails of EXR and stitched TIFF frames appear in the frame grid; a failed frame shows why', async (t) => {
  requireRoot();
  const bob = ensureUser(BYSTANDER);
  const farm = await TestFarm.start(t, { agents: 1, slots: 2 });
  // The scene lives where bob may read it; the frames go to bob's home.
  const sceneDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-web-scene-'));
  t.teardown(() => fs.rmSync(sceneDir, { recursive: true, force: true }));
  fs.chmodSync(sceneDir, 0o755);
  const scene = path.join(sceneDir, 'shot.blend');
  await createDemoScene(scene, 3);
  fs.chmodSync(scene, 0o644);
  const dirs = { exr: path.join(bob.home, 'web-exr'), tiff: path.join(bob.home, 'web-tiff'), bad: path.join(bob.home, 'web-bad') };
  for (const dir of Object.values(dirs)) fs.rmSync(dir, { recursive: true, force: true });
  const submit = async (args: string[]): Promise<number[]> => {
    const res = await farm.runAs(bob, 'qfarm', ['render', 'submit', '--scene', scene, '--cpu', '1', '-q', 'default', ...args], { cwd: bob.home });
    if (res.code !== 0) throw new Error(`qfarm render submit ${args.join(' ')} as ${bob.name} exited ${res.code}: ${res.stderr}`);
    return [...res.stdout.matchAll(/Your job-array (\d+)\./g)].map((m) => Number(m[1]));
  };
  const [exrJob] = await submit(['-s', '1', '-e', '3', '-P', 'FORMAT=OPEN_EXR', '--outdir', dirs.exr, '-N', 'exr']);
  const [, stitchJob] = await submit(['-s', '1', '-e', '1', '-X', '2', '-Y', '1', '-P', 'FORMAT=TIFF', '-P', 'COLOR_DEPTH=16', '--outdir', dirs.tiff, '-N', 'tiff']);
  // A renderer that exits 0 without writing its EXR frame (no extension on the file): a failed frame.
  const [badJob] = await submit(['-T', 'blender -b $SCENE -E BLENDER_WORKBENCH -F OPEN_EXR -o $OUTDIR/frame_##### -x 0 -s $START -e $END -a', '--expect', 'frame_#####.exr', '--debug-frame', '2', '--outdir', dirs.bad, '-N', 'bad']);
  t.ok(exrJob && stitchJob && badJob, 'three render jobs and a stitch job submitted');

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const page = await (await browser.newContext({ viewport: { width: 1360, height: 900 } })).newPage();
  const watch = watchPage(page);
  const link = /(http\S+\/web\/sign-in\?token=\S+)/.exec((await farm.runAs(bob, 'qfarm', ['web'])).stdout)?.[1];
  await page.goto(link!);

  await page.goto(`${farm.url}/#/job/${exrJob}`);
  await waitForThumbnails(page, farm.url, exrJob!, 3);
  await waitForFrameImages(page, [1, 2, 3], watch);
  t.pass('every EXR frame got its thumbnail, pushed live as tasks finished');
  const exrThumb = await page.request.get(farm.url + (await page.locator('figure[data-frame="1"] img').getAttribute('src'))!);
  t.equal(exrThumb.headers()['content-type'], 'image/png');
  const fromExr = decodePng(await exrThumb.body());
  t.same([fromExr.width, fromExr.height, fromExr.channels], [160, 90, 3], 'the 320x180 frame as a 160x90 8-bit RGB PNG');
  t.ok(await page.evaluate(() => (document.querySelector('figure[data-frame="3"] img') as HTMLImageElement).naturalWidth === 160), 'the browser decoded it');
  await page.locator('.frame-times canvas').waitFor({ timeout: 10_000 });
  await screenshot(page, 'render');
  t.same(fs.readdirSync(dirs.exr).filter((n) => n.startsWith('frame_')).sort(), ['frame_00001.exr', 'frame_00002.exr', 'frame_00003.exr'], 'the frames themselves are EXR, where the user asked');
  // The download link: a tar made as bob (his home is 0700 to everyone else), finding .exr by itself.
  const tar = await (await page.request.get(farm.url + (await page.locator('a.download').getAttribute('href'))!)).body();
  t.same(tarNames(tar), ['frame_00001.exr', 'frame_00002.exr', 'frame_00003.exr']);
  t.ok(tar.includes(fs.readFileSync(path.join(dirs.exr, 'frame_00002.exr'))), "with the frames' bytes");

  // The stitched frame: its tiles' job points to the stitch job, whose frame has the thumbnail.
  await page.goto(`${farm.url}/#/job/${stitchJob}`);
  await waitForThumbnails(page, farm.url, stitchJob!, 1);
  await waitForFrameImages(page, [1], watch);
  t.ok(fs.existsSync(path.join(dirs.tiff, 'frame_00001.tif')), 'Blender stitched the frame as TIFF');
  const fromTiff = decodePng(await (await page.request.get(farm.url + (await page.locator('figure[data-frame="1"] img').getAttribute('src'))!)).body());
  t.same([fromTiff.width, fromTiff.height], [160, 90]);
  const spread = Math.max(...fromExr.data) - Math.min(...fromExr.data);
  t.ok(spread > 100, `the thumbnail is a picture, not a flat field (samples span ${spread} levels)`);
  // Linear EXR through the scene's view transform, display-referred TIFF as written: the same picture.
  const difference = meanDifference(fromExr, fromTiff);
  t.ok(difference < 2, `the thumbnails of the EXR and of the stitched TIFF of frame 1 agree (mean difference ${difference.toFixed(2)} levels)`);

  await page.goto(`${farm.url}/#/job/${badJob}`);
  const failed = page.locator('figure.frame.failed[data-frame="2"]');
  await failed.locator('pre.frame-log').waitFor({ timeout: 120_000 });
  t.match(await failed.locator('pre.frame-log').textContent(), /expected output .*frame_00002\.exr was not written/, 'the failed frame shows its last log lines');
  t.equal(await failed.locator('img').count(), 0, 'and no thumbnail');
  t.same(watch.errors, []);
  t.same(watch.dialogs, []);
});
