import { SoftwareConfigError } from './errors.js';
import { blenderThumbnailPython } from './blender-thumbnail.js';
import type { TileSpec } from './plan.js';

/**
 * The Python Blender runs (`--python-expr`) after loading the scene and before rendering. By
 * default it keeps every render setting of the scene (engine, format, colour depth, seed and
 * animated seed, samples, dither, denoiser, compositing), so a frame from the farm is the frame
 * `blender -b scene.blend -f N` gives. It changes only:
 * - what the user asked with -P (each listed by `blenderOverrides`, shown by `-d` and status);
 * - file extensions on (the farm finds frames by `frame_#####.<ext>`);
 * - the denoiser off where this worker's Blender has no OpenImageDenoise (Cycles would fail),
 *   printed as a `qfarm-render: warning:` line that `qfarm render status` reports;
 * - for a tile: its border (cropped), written as multilayer float EXR (every pass, lossless) with
 *   dither, compositing and sequencer off; the stitch render (blender-stitch.ts) then runs the
 *   scene's compositing and writes the scene's format with its dither over the whole frame, so a
 *   stitched frame is bit-identical to the whole one (measured, Blender 3.4: PNG with dither 1).
 * A whole frame (not a tile) also gets its dashboard thumbnail, written by Blender itself after
 * the frame (blender-thumbnail.ts); the stitch render uses this setup too, so stitched frames do.
 * Every value interpolated here is a number or an upper-case identifier checked by a pattern.
 */

/** Prefix of the lines the setup prints into the task log (status looks for the warnings). */
export const SETUP_LOG_PREFIX = 'qfarm-render:';
export const SETUP_WARNING = `${SETUP_LOG_PREFIX} warning:`;

const INTEGER = /^(0|[1-9][0-9]*)$/;
const DECIMAL = /^[0-9]+(\.[0-9]+)?$/;
const IDENTIFIER = /^[A-Z][A-Z0-9_]*$/;
const BOOLEAN = /^[01]$/;

/** -P parameters of Blender that change a scene setting, with their Python and description. */
const SETTINGS: readonly { name: string; pattern: RegExp; python: (v: string) => string; describe: (v: string) => string }[] = [
  { name: 'ENGINE', pattern: IDENTIFIER, python: (v) => `r.engine = "${v}"`, describe: (v) => `render engine ${v}` },
  { name: 'FORMAT', pattern: IDENTIFIER, python: (v) => `r.image_settings.file_format = "${v}"`, describe: (v) => `output format ${v}` },
  { name: 'COLOR_DEPTH', pattern: INTEGER, python: (v) => `r.image_settings.color_depth = "${v}"`, describe: (v) => `colour depth ${v}` },
  { name: 'SEED', pattern: INTEGER, python: (v) => `s.cycles.seed = ${v}`, describe: (v) => `Cycles seed ${v}` },
  { name: 'ANIMATED_SEED', pattern: BOOLEAN, python: (v) => `s.cycles.use_animated_seed = ${v === '1' ? 'True' : 'False'}`, describe: (v) => `animated seed ${v === '1' ? 'on' : 'off'}` },
  { name: 'SAMPLES', pattern: INTEGER, python: (v) => `s.cycles.samples = ${v}`, describe: (v) => `Cycles samples ${v}` },
  { name: 'DITHER', pattern: DECIMAL, python: (v) => `r.dither_intensity = ${v}`, describe: (v) => `dither ${v}` },
  { name: 'DENOISE', pattern: BOOLEAN, python: (v) => `s.cycles.use_denoising = ${v === '1' ? 'True' : 'False'}`, describe: (v) => `denoiser ${v === '1' ? 'on' : 'off'}` },
  { name: 'RESOLUTION_X', pattern: INTEGER, python: (v) => `r.resolution_x = ${v}`, describe: (v) => `width ${v}` },
  { name: 'RESOLUTION_Y', pattern: INTEGER, python: (v) => `r.resolution_y = ${v}`, describe: (v) => `height ${v}` },
  { name: 'RESOLUTION_PERCENT', pattern: INTEGER, python: (v) => `r.resolution_percentage = ${v}`, describe: (v) => `resolution ${v}%` },
];

export const BLENDER_SETTING_NAMES = SETTINGS.map((s) => s.name);

/** The -P settings the user gave (non-empty), checked: name and value. */
function givenSettings(variables: Readonly<Record<string, string>>): { setting: (typeof SETTINGS)[number]; value: string }[] {
  const given = [];
  for (const setting of SETTINGS) {
    const value = variables[setting.name] ?? '';
    if (value === '') continue;
    if (!setting.pattern.test(value)) throw new SoftwareConfigError('blender', `-P ${setting.name}=${JSON.stringify(value)} is not valid (expected ${setting.pattern.source})`);
    given.push({ setting, value });
  }
  return given;
}

/**
 * Every change the farm makes to the scene's settings, for people (`-d`, the manifest, status).
 * The denoiser switched off on a worker without OpenImageDenoise is known only there: it is a
 * warning in the task's log.
 */
export function blenderOverrides(variables: Readonly<Record<string, string>>, tiled: boolean): string[] {
  const out = givenSettings(variables).map(({ setting, value }) => `${setting.describe(value)} (-P ${setting.name}=${value})`);
  out.push('file extension on (the farm finds frames as frame_#####.<ext>)');
  if (tiled) {
    out.push(
      "tiles: border cropped, written as multilayer 32-bit EXR with dither, compositing and sequencer off; the stitch renders the scene's compositing, format and dither over the whole frame",
      "tiles with the denoiser on are denoised tile by tile (each tile's pixels only), which can differ from the whole frame near tile edges",
    );
  }
  return out;
}

/** Python that turns the denoiser off only where this Blender cannot run it, saying so. */
const DENOISER_CHECK = [
  'oidn = getattr(bpy.app.build_options, "openimagedenoise", None)',
  'if oidn is None:\n    import _cycles\n    oidn = bool(getattr(_cycles, "with_openimagedenoise", False))',
  // Without any denoiser built in, Blender reads the scene's denoiser as "" (an empty enum).
  `if r.engine == "CYCLES" and s.cycles.use_denoising and s.cycles.denoiser != "OPTIX" and not oidn:\n    s.cycles.use_denoising = False\n    print("${SETUP_WARNING} the scene asks for the denoiser (OpenImageDenoise), which the Blender " + bpy.app.version_string + " of " + socket.gethostname() + " lacks (bpy.app.build_options): rendered without denoising, so frames are noisier than the artist's", flush=True)`,
];

/** Exit status of a task whose scene writes a movie: the farm renders frames, one file each. */
export const MOVIE_FORMAT_EXIT = 65;

/** A movie format writes one file per task, not per frame: refuse it with what to do instead. */
const MOVIE_CHECK = [
  `if r.is_movie_format:\n    import os, sys\n    sys.stderr.write("${SETUP_LOG_PREFIX} the scene writes a movie (" + r.image_settings.file_format + "), but the farm renders frames, one file each, and tasks render chunks of them; render frames with -P FORMAT=PNG or -P FORMAT=OPEN_EXR and encode the movie from them\\n")\n    sys.stderr.flush()\n    os._exit(${MOVIE_FORMAT_EXIT})`,
];

export function blenderSetupPython(variables: Readonly<Record<string, string>>, tile: TileSpec | null): string {
  const lines = ['import bpy, socket', 's = bpy.context.scene', 'r = s.render'];
  for (const { setting, value } of givenSettings(variables)) lines.push(setting.python(value));
  lines.push('r.use_file_extension = True', ...MOVIE_CHECK, ...DENOISER_CHECK);
  if (tile !== null) {
    lines.push(
      'r.image_settings.file_format = "OPEN_EXR_MULTILAYER"',
      'r.image_settings.color_depth = "32"',
      'r.image_settings.exr_codec = "ZIP"',
      'r.dither_intensity = 0',
      'r.use_compositing = False',
      'r.use_sequencer = False',
      'r.use_border = True',
      'r.use_crop_to_border = True',
      `r.border_min_x = ${tile.minX}`,
      `r.border_max_x = ${tile.maxX}`,
      `r.border_min_y = ${tile.minY}`,
      `r.border_max_y = ${tile.maxY}`,
    );
  } else {
    lines.push(...blenderThumbnailPython());
  }
  lines.push(
    `print("${SETUP_LOG_PREFIX} scene settings: engine " + r.engine + ", format " + r.image_settings.file_format + " " + r.image_settings.color_depth + "-bit, seed " + str(s.cycles.seed) + (" animated" if s.cycles.use_animated_seed else "") + ", samples " + str(s.cycles.samples) + ", dither " + str(r.dither_intensity) + ", denoiser " + ("on" if s.cycles.use_denoising else "off"), flush=True)`,
  );
  // Python statements with blocks cannot be joined by "; ": one statement per line.
  return lines.join('\n');
}
