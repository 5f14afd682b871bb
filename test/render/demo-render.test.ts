import t from 'tap';
import { spawnTs } from '../helpers/spawn-ts.js';

/** The demo's answer when Blender is missing: how to get it, and a failing exit status. */
t.test('without blender on PATH the demo says how to install it', async (t) => {
  const child = spawnTs('scripts/demo-render.ts', [], { env: { PATH: '/nonexistent', QFARM_HOME: '/nonexistent' } });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.equal(code, 1);
  t.match(stdout, /blender is not on PATH/);
  t.match(stdout, /sudo apt-get install -y blender/);
});

t.test('a bad frame count is a usage error', async (t) => {
  const child = spawnTs('scripts/demo-render.ts', ['0'], { env: { QFARM_HOME: '/nonexistent' } });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  t.equal(await new Promise<number | null>((resolve) => child.on('close', resolve)), 2);
  t.match(stdout, /usage: demo-render \[FRAMES\]/);
});
