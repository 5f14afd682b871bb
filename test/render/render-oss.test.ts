import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ApiClient } from '../../cli/api-client.js';
import { locateMaster } from '../../cli/master-location.js';
import { renderOutputUrl, renderStatus } from '../../cli/render/render-status.js';
import { downloadRenderOutput, renderSubmit, type RenderSubmitOptions } from '../../cli/render/render-submit.js';
import { fetchTaskLog } from '../../cli/render/task-log.js';
import { FakeOssServer } from '../../fakes/oss/server.js';
import { createDemoScene } from '../../render/demo-scene.js';
import { decodePng } from '../../render/png.js';
import { StoreResolver } from '../../storage/open-store.js';
import { TestFarm } from '../helpers/farm.js';
import { ROOT, stitchCommandFromSource } from './helpers.js';

/**
 * Render jobs whose scene and frames live in OSS (the local fake, which checks signatures and
 * CRC-64): the agent stages the scene's folder, the renderer writes into $OUTDIR, the agent
 * uploads and verifies it; tiles go to the bucket and the stitch job stages them back;
 * `--download` brings the frames home.
 */

execFileSync('/bin/sh', [path.join(ROOT, 'test', 'render', 'ensure-blender.sh')], { stdio: 'inherit' });

const KEY = { accessKeyId: 'LTAIrendertest01', accessKeySecret: 'render-secret-9d2e' };
const BUCKET = 'studio';

t.test('render jobs with oss:// scene and output, through the local OSS', async (t) => {
  const oss = await FakeOssServer.start({ keys: [KEY], buckets: [BUCKET] });
  t.teardown(() => oss.close());
  const ossEnv = { QFARM_OSS_ENDPOINT: oss.url, ALIBABA_CLOUD_ACCESS_KEY_ID: KEY.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: KEY.accessKeySecret };
  const farm = await TestFarm.start(t);
  const environment: NodeJS.ProcessEnv = { ...process.env, ...ossEnv, QFARM_HOME: farm.home };
  delete environment.QFARM_MASTER;
  delete environment.QFARM_TOKEN;
  await farm.startAgent('node1', { slots: 2, env: ossEnv });

  const local = mkdtempSync(path.join(os.tmpdir(), 'qfarm-render-oss-'));
  t.teardown(() => rmSync(local, { recursive: true, force: true }));
  const sceneFile = path.join(local, 'demo.blend');
  await createDemoScene(sceneFile, 2);
  await oss.seedFromFile(BUCKET, 'scenes/shot01/demo.blend', sceneFile);

  const api = new ApiClient(locateMaster(environment));
  const logs = (job: number, task: number) => fetchTaskLog(locateMaster(environment), job, task);
  const lines: string[] = [];
  const submit = (options: RenderSubmitOptions) =>
    renderSubmit(
      { scene: `oss://${BUCKET}/scenes/shot01/demo.blend`, cpu: 1, ...options },
      { cwd: farm.work, environment, out: (l) => lines.push(l), err: (l) => lines.push(l), stitchCommand: stitchCommandFromSource() },
    );
  const object = (key: string): Buffer => {
    const stored = oss.object(BUCKET, key);
    if (stored === undefined) throw new Error(`oss://${BUCKET}/${key} is not in the bucket`);
    return readFileSync(stored.file);
  };
  // The bucket's listing through the same adapter the agents use (real ali-oss, signed).
  const { store } = new StoreResolver({}, environment).forUrl(`oss://${BUCKET}/`);
  const keys = async (prefix: string): Promise<string[]> => {
    const out: string[] = [];
    for await (const meta of store.list(prefix)) out.push(meta.key);
    return out.sort();
  };

  // Both jobs run at once on the agent's two slots; --download waits for the tiled one.
  const wholePromise = submit({ start: 1, end: 2, output: `oss://${BUCKET}/renders/whole`, name: 'whole' });
  const home = path.join(local, 'home');
  const tiled = await submit({ start: 2, end: 2, tilesX: 2, tilesY: 2, output: `oss://${BUCKET}/renders/tiled/`, name: 'tiled', download: home });
  const whole = await wholePromise;
  await farm.waitForJob(whole.renderJobId!, 120_000);

  t.test('frames and tiles land in the bucket with their names', async (t) => {
    t.same(await keys('renders/'), [
      'renders/tiled/frame_00002.png',
      'renders/tiled/tiles/tile-x0-y0/frame_00002.exr',
      'renders/tiled/tiles/tile-x0-y1/frame_00002.exr',
      'renders/tiled/tiles/tile-x1-y0/frame_00002.exr',
      'renders/tiled/tiles/tile-x1-y1/frame_00002.exr',
      'renders/whole/frame_00001.png',
      'renders/whole/frame_00002.png',
    ]);
    const frame = decodePng(object('renders/whole/frame_00001.png'));
    t.same([frame.width, frame.height], [320, 180]);
    const status = await renderStatus(api, whole.renderJobId!, logs);
    t.same(status.doneFrames, [1, 2]);
    t.same(status.failedFrames, []);
  });

  t.test('the frame Blender stitched from float EXR tiles staged out of the bucket (scene and tiles staged) equals the whole-frame render', async (t) => {
    const stitched = decodePng(object('renders/tiled/frame_00002.png'));
    const wholeFrame = decodePng(object('renders/whole/frame_00002.png'));
    t.ok(stitched.data.equals(wholeFrame.data), 'bit-identical');
    const status = await renderStatus(api, tiled.renderJobId!, logs);
    t.same(status.doneFrames, [2], 'rendered and stitched');
  });

  t.test("the dashboard has a thumbnail of every frame, whole or stitched, though the master never sees the bucket", async (t) => {
    // Blender printed them on the node (render/blender-thumbnail.ts); they came with the task's log.
    for (const [job, frames] of [[whole.renderJobId!, [1, 2]], [tiled.stitchJobId!, [2]]] as const) {
      const grid = (await farm.api('GET', `/web/jobs/${job}/frames?offset=0&limit=10`)) as { frames: { frame: number; thumbnail: string | null }[] };
      t.same(grid.frames.map((f) => [f.frame, f.thumbnail !== null]), frames.map((f) => [f, true]), `job ${job}`);
      const png = await fetch(farm.url + grid.frames[0]!.thumbnail!, { headers: { authorization: `Bearer ${farm.token('api')}` } });
      t.same([png.status, decodePng(Buffer.from(await png.arrayBuffer())).width], [200, 160]);
    }
  });

  t.test('--download brought the frames home, without the tiles', async (t) => {
    t.same(readdirSync(home), ['frame_00002.png']);
    t.ok(readFileSync(path.join(home, 'frame_00002.png')).equals(object('renders/tiled/frame_00002.png')));
    t.match(lines.join('\n'), /qfarm render: downloaded 1 file\(s\), [\d.]+ KiB in [\d.]+ s to /);
    t.match(lines.join('\n'), /^ {2}frame_00002\.png \([\d.]+ KiB\)$/m, 'a progress line per file');
  });

  t.test('qfarm render get: by the render job id or the stitch job id', async (t) => {
    t.equal(await renderOutputUrl(api, whole.renderJobId!), `oss://${BUCKET}/renders/whole/`);
    t.equal(await renderOutputUrl(api, tiled.stitchJobId!), `oss://${BUCKET}/renders/tiled/`);
    const dest = path.join(local, 'got');
    const got = await downloadRenderOutput(await renderOutputUrl(api, whole.renderJobId!), dest, { environment, out: () => {} });
    t.equal(got.files, 2);
    t.same(readdirSync(dest).sort(), ['frame_00001.png', 'frame_00002.png']);
  });

  t.test('a renderer that wrote nothing fails its frame before anything is uploaded', async (t) => {
    const bad = await submit({ template: 'true $SCENE $OUTDIR', expect: 'frame_#####.png', debugFrame: 3, output: `oss://${BUCKET}/renders/bad/`, name: 'bad', wait: true });
    const status = await renderStatus(api, bad.renderJobId!, logs);
    t.same(status.failedFrames, [3]);
    t.equal(status.failedTasks[0]?.exitStatus, 73);
    t.match(status.failedTasks[0]?.logTail.join('\n'), /expected output .*outdir\/frame_00003\.png was not written/);
    t.same(await keys('renders/bad/'), [], 'nothing uploaded');
  });
});
