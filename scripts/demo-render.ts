#!/usr/bin/env node
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { validators } from '../protocol/api.js';
import { ApiClient } from '../cli/api-client.js';
import { CliError } from '../cli/cli-errors.js';
import { locateMaster, qfarmHome, type MasterLocation } from '../cli/master-location.js';
import { formatRenderStatus, renderStatus } from '../cli/render/render-status.js';
import { renderSubmit } from '../cli/render/render-submit.js';
import { fetchTaskLog } from '../cli/render/task-log.js';
import { waitForJob } from '../cli/render/render-wait.js';
import { createDemoScene } from '../render/demo-scene.js';
import { readPng } from '../render/png.js';

/**
 * Renders a short Blender animation on a running farm (the one QFARM_HOME points at):
 *   qfarm up &                      # a master and local agents
 *   node dist/scripts/demo-render.js [FRAMES]
 * Builds a small scene with Blender's Python, submits frames 1..FRAMES in chunks of 3 and the
 * last frame again as 2x2 tiles (stitched by a follow-up job), waits, and prints the status.
 */

const say = (line: string): void => void process.stdout.write(`${line}\n`);

function onPath(command: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, command);
    try {
      if (readdirSync(dir).includes(command)) return candidate;
    } catch {
      // Unreadable PATH entries are skipped, as the shell does.
    }
  }
  return null;
}

async function main(): Promise<number> {
  const frames = Number(process.argv[2] ?? 12);
  if (!Number.isInteger(frames) || frames < 1 || frames > 250) {
    say('usage: demo-render [FRAMES]   (1..250, default 12)');
    return 2;
  }
  if (onPath('blender') === null) {
    say('demo-render: blender is not on PATH, so there is nothing to render with.');
    say('  Debian/Ubuntu: sudo apt-get install -y blender   (about 25 s; headless Cycles works on the CPU)');
    say('  elsewhere:     https://www.blender.org/download/ , then put the blender binary on PATH');
    say('Then run this demo again.');
    return 1;
  }
  let master: MasterLocation;
  try {
    master = locateMaster();
  } catch (err) {
    say(`demo-render: ${(err as Error).message}`);
    say("  start a farm first: 'qfarm up' in another terminal (same QFARM_HOME), then run this demo again");
    return 1;
  }
  const api = new ApiClient(master);
  const health = await api.get('/health', validators.healthResponse);
  if (health.hosts === 0) say("demo-render: warning: no agent is connected yet; the jobs wait until one is ('qfarm up' starts local agents)");

  const dir = path.join(qfarmHome(), 'demo-render');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const scene = path.join(dir, 'demo scene.blend');
  say(`demo-render: building a ${frames}-frame scene with Blender: ${scene}`);
  await createDemoScene(scene, frames);

  const ctx = { cwd: dir, environment: process.env, out: say, err: say };
  const animation = await renderSubmit({ scene, start: 1, end: frames, framesPerTask: 3, outdir: path.join(dir, 'frames'), name: 'demo-animation' }, ctx, api);
  const still = await renderSubmit({ scene, start: frames, end: frames, tilesX: 2, tilesY: 2, outdir: path.join(dir, 'tiled-still'), name: 'demo-still' }, ctx, api);
  const started = Date.now();
  for (const id of [animation.renderJobId, still.renderJobId, still.stitchJobId]) if (id !== null) await waitForJob(api, id);
  say(`demo-render: all jobs finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const logs = (job: number, task: number) => fetchTaskLog(master, job, task);
  let failed = false;
  for (const id of [animation.renderJobId!, still.renderJobId!]) {
    const status = await renderStatus(api, id, logs);
    for (const line of formatRenderStatus(status)) say(line);
    failed ||= status.failedTasks.length > 0 || status.doneFrames.length !== status.totalFrames;
  }
  for (const sub of ['frames', 'tiled-still']) {
    const files = readdirSync(path.join(dir, sub)).filter((n) => n.endsWith('.png')).sort();
    const sizes = new Set(files.map((f) => { const i = readPng(path.join(dir, sub, f)); return `${i.width}x${i.height}`; }));
    say(`${path.join(dir, sub)}: ${files.length} frame(s) ${[...sizes].join(', ')}`);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    process.stderr.write(`demo-render: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof CliError && err.hint) process.stderr.write(`hint: ${err.hint}\n`);
    process.exitCode = 1;
  },
);
