import { Type, type Static } from '@sinclair/typebox';
import { compile, parseJson } from '../protocol/validate.js';

/**
 * What a render job is, written into its own job script as one comment line, so that
 * `qfarm render status JOB` can map task ids back to frames and tiles from nothing but the
 * stored job (GET /jobs/:id returns the script). No extra table on the master is needed.
 */
export const MANIFEST_PREFIX = '# qfarm-render-manifest: ';

/** `outputDir` of a job whose tasks write into the agent's `$OUTDIR` (uploaded to oss://). */
export const RUNTIME_OUTDIR = '$OUTDIR';

export const RenderManifest = Type.Object({
  version: Type.Literal(1),
  kind: Type.Literal('render'),
  name: Type.String(),
  software: Type.String(),
  scene: Type.Union([Type.String(), Type.Null()]),
  output: Type.String(),
  outputDir: Type.String(),
  /** Output file name pattern (`frame_#####.png`) or null when the software declares none. */
  pattern: Type.Union([Type.String(), Type.Null()]),
  step: Type.Integer({ minimum: 1 }),
  tilesX: Type.Integer({ minimum: 1 }),
  tilesY: Type.Integer({ minimum: 1 }),
  /** Per task id (index + 1): [start, end, tileX, tileY]; tile -1 for whole frames. */
  tasks: Type.Array(Type.Tuple([Type.Integer(), Type.Integer(), Type.Integer(), Type.Integer()])),
  /** Every change made to the scene's own settings (-P values, the farm's own), for status. */
  overrides: Type.Optional(Type.Array(Type.String())),
});
export type RenderManifest = Static<typeof RenderManifest>;

export const StitchManifest = Type.Object({
  version: Type.Literal(1),
  kind: Type.Literal('stitch'),
  name: Type.String(),
  /** The tile job whose tiles this job stitches. */
  renderJobId: Type.Integer(),
  /** Where frames are written: a directory, or RUNTIME_OUTDIR. */
  outputDir: Type.String(),
  /** Node path of the tiles when they are staged from oss:// (default: `<outputDir>/tiles`). */
  tileDir: Type.Optional(Type.String()),
  pattern: Type.String(),
  tilesX: Type.Integer({ minimum: 1 }),
  tilesY: Type.Integer({ minimum: 1 }),
  /** Frame of each task id (index + 1). */
  frames: Type.Array(Type.Integer()),
  /** Who stitches: Blender rendering the scene from its tiles (blender-stitch.ts), else qfarm-stitch (PNG). */
  stitcher: Type.Optional(Type.Union([Type.Literal('blender'), Type.Literal('png')])),
});
export type StitchManifest = Static<typeof StitchManifest>;

export const AnyManifest = Type.Union([RenderManifest, StitchManifest]);
export type AnyManifest = Static<typeof AnyManifest>;
const anyManifest = compile('render manifest', AnyManifest);

export function manifestLine(manifest: AnyManifest): string {
  // JSON.stringify escapes newlines inside strings, so the manifest stays one comment line.
  return MANIFEST_PREFIX + JSON.stringify(manifest);
}

/** The manifest in a job script, or null when the script was not made by `qfarm render`. */
export function readManifest(script: string): AnyManifest | null {
  const line = script.split('\n').find((l) => l.startsWith(MANIFEST_PREFIX));
  if (line === undefined) return null;
  return parseJson(anyManifest, line.slice(MANIFEST_PREFIX.length));
}

/** Frames of a render task from its manifest entry. */
export function manifestTaskFrames(manifest: RenderManifest, taskId: number): number[] {
  const entry = manifest.tasks[taskId - 1];
  if (entry === undefined) return [];
  const frames: number[] = [];
  for (let f = entry[0]; f <= entry[1]; f += manifest.step) frames.push(f);
  return frames;
}
