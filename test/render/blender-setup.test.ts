import t from 'tap';
import { blenderOverrides, blenderSetupPython } from '../../render/blender-setup.js';
import { blenderStitchPython } from '../../render/blender-stitch.js';
import { SoftwareConfigError } from '../../render/errors.js';
import { frameTiles } from '../../render/plan.js';
import { BLENDER, checkSoftwareUse } from '../../render/software.js';
import { run } from './helpers.js';

/**
 * The Python Blender runs before rendering changes only what the user asked for (and what the
 * farm needs, each listed); values that reach Python are checked twice (the parameter's
 * pattern, then the setup's own). Blender itself runs these in blender.test.ts.
 */

const EXTENSION = 'file extension on (the farm finds frames as frame_#####.<ext>)';
/** Assignments to the scene's render settings, one per line (the Python is one statement a line). */
const assignments = (python: string): string[] => python.split('\n').filter((l) => /^(s|r)\.[a-z_.]+ = /.test(l));

t.test("by default the scene's settings are kept: only the file extension is set", async (t) => {
  const values = checkSoftwareUse(BLENDER, {}, false);
  t.same(assignments(blenderSetupPython(values, null)), ['r.use_file_extension = True']);
  t.same(blenderOverrides(values, false), [EXTENSION]);
});

t.test('each -P changes exactly its setting, and is listed', async (t) => {
  const given = { FORMAT: 'OPEN_EXR_MULTILAYER', COLOR_DEPTH: '16', SEED: '7', ANIMATED_SEED: '0', SAMPLES: '32', DITHER: '0.5', DENOISE: '1', ENGINE: 'BLENDER_EEVEE' };
  const values = checkSoftwareUse(BLENDER, given, false);
  t.same(assignments(blenderSetupPython(values, null)), [
    'r.engine = "BLENDER_EEVEE"',
    'r.image_settings.file_format = "OPEN_EXR_MULTILAYER"',
    'r.image_settings.color_depth = "16"',
    's.cycles.seed = 7',
    's.cycles.use_animated_seed = False',
    's.cycles.samples = 32',
    'r.dither_intensity = 0.5',
    's.cycles.use_denoising = True',
    'r.use_file_extension = True',
  ]);
  t.same(blenderOverrides(values, false), [
    'render engine BLENDER_EEVEE (-P ENGINE=BLENDER_EEVEE)',
    'output format OPEN_EXR_MULTILAYER (-P FORMAT=OPEN_EXR_MULTILAYER)',
    'colour depth 16 (-P COLOR_DEPTH=16)',
    'Cycles seed 7 (-P SEED=7)',
    'animated seed off (-P ANIMATED_SEED=0)',
    'Cycles samples 32 (-P SAMPLES=32)',
    'dither 0.5 (-P DITHER=0.5)',
    'denoiser on (-P DENOISE=1)',
    EXTENSION,
  ]);
});

t.test('a tile keeps the seed and writes multilayer float EXR without dither or compositing', async (t) => {
  const tile = frameTiles(2, 2)[3]!;
  const lines = assignments(blenderSetupPython(checkSoftwareUse(BLENDER, {}, true), tile));
  t.same(lines, [
    'r.use_file_extension = True',
    'r.image_settings.file_format = "OPEN_EXR_MULTILAYER"',
    'r.image_settings.color_depth = "32"',
    'r.image_settings.exr_codec = "ZIP"',
    'r.dither_intensity = 0',
    'r.use_compositing = False',
    'r.use_sequencer = False',
    'r.use_border = True',
    'r.use_crop_to_border = True',
    'r.border_min_x = 0.5',
    'r.border_max_x = 1',
    'r.border_min_y = 0.5',
    'r.border_max_y = 1',
  ]);
  t.equal(blenderOverrides({}, true).length, 3, 'the tile settings are listed too');
});

t.test('values that are not what they claim never reach Python', async (t) => {
  for (const [name, value] of [['FORMAT', 'PNG"; import os'], ['SEED', '-1'], ['DITHER', '1e3'], ['ANIMATED_SEED', 'True'], ['COLOR_DEPTH', '8; x']]) {
    t.throws(() => checkSoftwareUse(BLENDER, { [name!]: value! }, false), SoftwareConfigError, `-P ${name}=${value} refused by its pattern`);
    t.throws(() => blenderSetupPython({ [name!]: value! }, null), SoftwareConfigError, `-P ${name}=${value} refused by the setup itself`);
  }
});

t.test('the setup and stitch Python parse (python3)', async (t) => {
  const setup = blenderSetupPython({ SEED: '3' }, frameTiles(2, 1)[0]!);
  const stitch = blenderStitchPython({ tilesX: 3, tilesY: 2, tileDir: `/tmp/it's "a" dir`, stem: 'frame_#####', parameters: { FORMAT: 'PNG' } });
  for (const [what, code] of [['setup', setup], ['stitch', stitch]]) {
    const res = await run('python3', ['-c', 'import ast, sys; ast.parse(sys.argv[1])', code!]);
    t.equal(res.code, 0, `${what}: ${res.stderr}`);
  }
  t.ok(stitch.includes(`"/tmp/it's \\"a\\" dir/tile-x2-y1"`), 'paths reach Python as JSON string literals');
});
