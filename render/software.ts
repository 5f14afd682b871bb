import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { compile } from '../protocol/validate.js';
import { blenderOverrides, blenderSetupPython } from './blender-setup.js';
import { SoftwareConfigError } from './errors.js';
import type { TileSpec } from './plan.js';
import { checkTemplateVariables, templateVariableNames } from './template.js';

/**
 * Software configurations, as Render Manager's: a named renderer with the scene suffixes it
 * opens, its command template, parameters with defaults, and the files each frame writes (so
 * a task that exits 0 without output is caught). Blender ships built in; more come from JSON
 * files in `$QFARM_HOME/render/software/*.json` (one per worker image, say).
 */

/** Variables every render task has, whatever the software. */
export const BUILTIN_VARIABLES = ['START', 'END', 'STEP', 'FRAME', 'OUTDIR', 'CPU', 'SCENE', 'SF_MIN_X', 'SF_MAX_X', 'SF_MIN_Y', 'SF_MAX_Y'] as const;
export type BuiltinVariable = (typeof BUILTIN_VARIABLES)[number];

const TILE_VARIABLES = ['SF_MIN_X', 'SF_MAX_X', 'SF_MIN_Y', 'SF_MAX_Y'];

export const SoftwareParameter = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }),
  default: Type.String(),
  description: Type.String(),
  /** Values must match this (a JS regular expression, anchored); guards values that reach code. */
  pattern: Type.Optional(Type.String()),
});
export type SoftwareParameter = Static<typeof SoftwareParameter>;

/** The JSON form of a software configuration. */
export const SoftwareConfigFile = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }),
  description: Type.String(),
  sceneSuffixes: Type.Array(Type.String()),
  template: Type.String({ minLength: 1 }),
  parameters: Type.Array(SoftwareParameter),
  /** File each frame writes in $OUTDIR; runs of `#` are the zero-padded frame. null: not checked. */
  output: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
});
export type SoftwareConfigFile = Static<typeof SoftwareConfigFile>;
const softwareConfigFile = compile('software configuration', SoftwareConfigFile);

export interface SoftwareConfig extends SoftwareConfigFile {
  /**
   * Extra variables computed from a task's own (built-in configs only: code, not JSON). Blender's
   * uses it to build the Python that sets the border, seed and denoising, from validated numbers.
   */
  derive?: (variables: Readonly<Record<string, string>>, tile: TileSpec | null) => Record<string, string>;
  /** Names `derive` adds (so templates can be checked before any task exists). */
  derivedNames?: readonly string[];
  /** Every change this software makes to the scene's own settings, for `-d` and status. */
  overrides?: (values: Readonly<Record<string, string>>, tiled: boolean) => string[];
  /** Who stitches tiles: Blender itself (any format it writes), else qfarm-stitch (PNG). */
  stitcher?: 'blender' | 'png';
  /** The renderer prints its frames' dashboard thumbnails itself (Blender: blender-thumbnail.ts); else the task script runs qfarm-thumbnail on PNG frames. */
  printsThumbnails?: boolean;
}

/** An output pattern ending in this takes whatever extension the renderer gives the scene's format. */
export const ANY_EXTENSION = '.*';

/**
 * Blender, headless. Arguments are processed in order, so everything that configures the
 * render (-E, -o, the Python, -t, the range) comes before `-a`, which renders.
 */
export const BLENDER: SoftwareConfig = {
  name: 'blender',
  description: 'Blender (Cycles, Workbench or EEVEE) headless: blender -b scene.blend ... -a',
  sceneSuffixes: ['.blend'],
  template: 'blender -b $SCENE -o $OUTDIR/frame_##### --python-expr $BLENDER_SETUP -t $CPU -s $START -e $END -j $STEP -a',
  // Empty: the scene's own setting. Only what is given changes the scene (and is listed).
  parameters: [
    { name: 'ENGINE', default: '', description: "render engine: CYCLES, BLENDER_WORKBENCH or BLENDER_EEVEE (empty: the scene's)", pattern: '([A-Z][A-Z0-9_]*)?' },
    { name: 'FORMAT', default: '', description: "output format: PNG, OPEN_EXR, OPEN_EXR_MULTILAYER, TIFF, JPEG... (empty: the scene's)", pattern: '([A-Z][A-Z0-9_]*)?' },
    { name: 'COLOR_DEPTH', default: '', description: "colour depth: 8 or 16 (PNG, TIFF), 16 (half) or 32 (EXR) (empty: the scene's)", pattern: '(8|10|12|16|32)?' },
    { name: 'SEED', default: '', description: "Cycles seed (empty: the scene's)", pattern: '[0-9]*' },
    { name: 'ANIMATED_SEED', default: '', description: "Cycles animated seed, 1 on or 0 off (empty: the scene's)", pattern: '[01]?' },
    { name: 'SAMPLES', default: '', description: "Cycles samples per pixel (empty: the scene's)", pattern: '[0-9]*' },
    { name: 'DITHER', default: '', description: "dither intensity (empty: the scene's)", pattern: '([0-9]+(\\.[0-9]+)?)?' },
    { name: 'DENOISE', default: '', description: "Cycles denoiser, 1 on or 0 off (empty: the scene's; off where the worker's Blender lacks OpenImageDenoise, with a warning)", pattern: '[01]?' },
    { name: 'RESOLUTION_X', default: '', description: "image width in pixels (empty: the scene's)", pattern: '[0-9]*' },
    { name: 'RESOLUTION_Y', default: '', description: "image height in pixels (empty: the scene's)", pattern: '[0-9]*' },
    { name: 'RESOLUTION_PERCENT', default: '', description: "resolution scale in percent (empty: the scene's)", pattern: '[0-9]*' },
  ],
  // The scene's format decides the extension (.png, .exr, .tif...); tiles are always .exr.
  output: `frame_#####${ANY_EXTENSION}`,
  derive: (variables, tile) => ({ BLENDER_SETUP: blenderSetupPython(variables, tile) }),
  overrides: blenderOverrides,
  stitcher: 'blender',
  printsThumbnails: true,
  derivedNames: ['BLENDER_SETUP'],
};

export const BUILTIN_SOFTWARE: readonly SoftwareConfig[] = [BLENDER];

/** A configuration for a one-off `-T template`: any -P name is a parameter. */
export function adHocSoftware(template: string, output: string | null): SoftwareConfig {
  return { name: 'template', description: 'command template given with -T', sceneSuffixes: [], template, parameters: [], output };
}

/** Every variable name a task of this software can use in its template. */
export function knownVariables(software: SoftwareConfig, userParameters: Readonly<Record<string, string>>): string[] {
  const names = new Set<string>([...BUILTIN_VARIABLES, ...software.parameters.map((p) => p.name), ...(software.derivedNames ?? []), ...Object.keys(userParameters)]);
  return [...names].sort();
}

/**
 * Checks a configuration against what the job asks of it: its template names only known
 * variables, `-P` names only its parameters (ad-hoc templates accept any), values match their
 * patterns, and tiles are only asked of a template that uses the SF_ variables.
 */
export function checkSoftwareUse(software: SoftwareConfig, userParameters: Readonly<Record<string, string>>, tiled: boolean): Record<string, string> {
  const declared = software.parameters.map((p) => p.name);
  const values: Record<string, string> = {};
  for (const p of software.parameters) values[p.name] = p.default;
  for (const [name, value] of Object.entries(userParameters)) {
    if (software.name !== 'template' && !declared.includes(name)) {
      throw new SoftwareConfigError(software.name, `-P ${name}: ${software.name} has no parameter ${name}; its parameters: ${declared.join(' ') || '(none)'}`);
    }
    if ((BUILTIN_VARIABLES as readonly string[]).includes(name)) {
      throw new SoftwareConfigError(software.name, `-P ${name}: $${name} is set by qfarm render for each task and cannot be a parameter`);
    }
    values[name] = value;
  }
  for (const p of software.parameters) {
    const value = values[p.name]!;
    if (p.pattern !== undefined && !new RegExp(`^(?:${p.pattern})$`).test(value)) {
      throw new SoftwareConfigError(software.name, `parameter ${p.name}=${JSON.stringify(value)} does not match ${p.pattern} (${p.description})`);
    }
  }
  checkTemplateVariables(software.template, knownVariables(software, values));
  if (tiled && software.derive === undefined && !templateVariableNames(software.template).some((n) => TILE_VARIABLES.includes(n))) {
    throw new SoftwareConfigError(software.name, `-X/-Y tiles need a template that uses $SF_MIN_X $SF_MAX_X $SF_MIN_Y $SF_MAX_Y, and ${software.name}'s does not`);
  }
  return values;
}

/** Reads `*.json` software configurations from a directory (absent directory: none). */
export function loadSoftwareDir(dir: string): SoftwareConfig[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new SoftwareConfigError(dir, `cannot list software configurations in ${dir}: ${(err as Error).message}`);
  }
  return names.map((name) => {
    const file = path.join(dir, name);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new SoftwareConfigError(name, `software configuration ${file} is not valid JSON: ${(err as Error).message}`);
    }
    const problems = softwareConfigFile.problems(parsed);
    if (problems.length > 0) throw new SoftwareConfigError(name, `software configuration ${file} is invalid: ${problems.join('; ')}`);
    return parsed as SoftwareConfigFile;
  });
}

/** Finds a configuration by name: files in `dir` override the built-ins of the same name. */
export function findSoftware(name: string, dir: string | null): SoftwareConfig {
  const all = [...(dir === null ? [] : loadSoftwareDir(dir)), ...BUILTIN_SOFTWARE];
  const found = all.find((s) => s.name === name);
  if (found === undefined) {
    const names = [...new Set(all.map((s) => s.name))].join(', ');
    throw new SoftwareConfigError(name, `unknown software configuration "${name}"; known: ${names}`, dir === null ? undefined : `add ${path.join(dir, `${name}.json`)} to define it`);
  }
  return found;
}
