import { spawnSync } from 'node:child_process';
import { RenderError } from './errors.js';

/**
 * The scene's own frame range, asked of Blender at submit (`render submit` without -s/-e): the
 * range the artist set in the .blend is the one they mean. Runs `blender -b SCENE --python-expr`
 * as whoever runs the CLI (the submitting user, who can read their scene), bounded in time.
 */

export interface SceneFrameRange {
  start: number;
  end: number;
  step: number;
}

const MARKER = 'qfarm-frame-range:';
const PYTHON = `import bpy\ns = bpy.context.scene\nprint("${MARKER}", s.frame_start, s.frame_end, s.frame_step, flush=True)`;
/** Loading a big scene takes a while; a hung Blender must not hang the submit. */
const TIMEOUT_MS = 120_000;

export function sceneFrameRange(scene: string, environment: NodeJS.ProcessEnv, blender = 'blender'): SceneFrameRange {
  const res = spawnSync(blender, ['--factory-startup', '-b', scene, '--python-expr', PYTHON], {
    env: environment,
    encoding: 'utf8',
    timeout: TIMEOUT_MS,
    maxBuffer: 16 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const noRange = `no frame range: -s/-e not given, so the scene's own range is read with Blender`;
  if (res.error !== undefined) {
    const code = (res.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RenderError(`${noRange}, but '${blender}' is not on this machine's PATH`, 'give -s START -e END, or install Blender here (the workers need it anyway)');
    throw new RenderError(`${noRange}, which failed: ${res.error.message}`, 'give -s START -e END');
  }
  const line = res.stdout.split('\n').find((l) => l.startsWith(MARKER));
  const numbers = line?.slice(MARKER.length).trim().split(/\s+/).map(Number) ?? [];
  if (numbers.length !== 3 || !numbers.every(Number.isSafeInteger)) {
    const tail = `${res.stdout}\n${res.stderr}`.split('\n').filter((l) => l.trim() !== '').slice(-3).join(' | ');
    throw new RenderError(`${noRange}, which could not read ${scene} (exit status ${res.status ?? res.signal}): ${tail}`, 'check the scene opens in Blender, or give -s START -e END');
  }
  const [start, end, step] = numbers as [number, number, number];
  return { start, end, step: Math.max(1, step) };
}
