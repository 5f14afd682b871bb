import { RenderPlanError } from './errors.js';

/**
 * From a frame range and the chunk/tile options to the list of tasks of one array job, as
 * Brenda (one task per frame, chunk or tile) and Render Manager (a range split evenly over
 * N nodes) do. Pure and deterministic: the same options always give the same plan.
 */

export interface PlanOptions {
  /** `-s`: first frame. */
  start: number;
  /** `-e`: last frame (inclusive; a step that does not divide the range stops before it). */
  end: number;
  /** `-j`: frame step. @default 1 */
  step?: number;
  /** `-S`: frames per task (multiframe chunks; the last chunk may be shorter). @default 1 */
  framesPerTask?: number;
  /** `--nodes`: split the frames evenly over this many tasks instead (sizes differ by at most 1). */
  nodes?: number;
  /** `-X`: tiles across each frame. @default 1 */
  tilesX?: number;
  /** `-Y`: tiles down each frame. @default 1 */
  tilesY?: number;
  /** `-R`: shuffle the task order with this seed (reproducible); absent keeps frame order. */
  randomSeed?: number;
}

/**
 * One tile of a frame, as Blender's border: fractions 0..1 of the width and height, y counted
 * from the BOTTOM (Blender's convention). `x`/`y` are the tile's column and row (row 0 at the bottom).
 */
export interface TileSpec {
  x: number;
  y: number;
  tilesX: number;
  tilesY: number;
  minX: number;
  maxX: number;
  minY: number;
  maxY: number;
}

export interface TaskSpec {
  /** SGE_TASK_ID: 1..tasks.length in dispatch order. */
  taskId: number;
  /** The frames this task renders, ascending: start, start+step, ... end. */
  frames: number[];
  start: number;
  end: number;
  step: number;
  /** The tile of each of those frames, or null for whole frames. */
  tile: TileSpec | null;
}

export interface RenderPlan {
  frames: number[];
  step: number;
  tilesX: number;
  tilesY: number;
  /** Frame chunks (one per task when there are no tiles). */
  chunks: number[][];
  tasks: TaskSpec[];
}

/** Largest count of tasks one plan may make (the job script holds one case arm per task). */
export const MAX_PLAN_TASKS = 100_000;
/** Most tiles along one axis; beyond this the per-tile overhead dwarfs the render. */
export const MAX_TILES_PER_AXIS = 64;

function integer(option: string, name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
    throw new RenderPlanError(option, `${option} (${name}) must be ${range}, not ${String(value)}`);
  }
  return value;
}

/** Frames start, start+step, ... <= end. */
export function frameList(start: number, end: number, step: number): number[] {
  const frames: number[] = [];
  for (let f = start; f <= end; f += step) frames.push(f);
  return frames;
}

/** Splits frames into consecutive chunks of `size` (the last may be shorter). */
export function chunkBySize(frames: readonly number[], size: number): number[][] {
  const chunks: number[][] = [];
  for (let i = 0; i < frames.length; i += size) chunks.push(frames.slice(i, i + size));
  return chunks;
}

/** Splits frames into `count` consecutive chunks whose sizes differ by at most one (larger first). */
export function chunkEvenly(frames: readonly number[], count: number): number[][] {
  const n = Math.min(count, frames.length);
  const base = Math.floor(frames.length / n);
  const extra = frames.length % n;
  const chunks: number[][] = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    const size = base + (i < extra ? 1 : 0);
    chunks.push(frames.slice(at, at + size));
    at += size;
  }
  return chunks;
}

/**
 * The tiles of a frame, bottom row first, left to right. Fractions are i/n computed once, so a
 * tile's max and its neighbour's min are the same number and Blender rounds them to the same
 * pixel: the tiles cover the frame without gap or overlap.
 */
export function frameTiles(tilesX: number, tilesY: number): TileSpec[] {
  const tiles: TileSpec[] = [];
  const fx = (i: number): number => i / tilesX;
  const fy = (i: number): number => i / tilesY;
  for (let y = 0; y < tilesY; y++) {
    for (let x = 0; x < tilesX; x++) {
      tiles.push({ x, y, tilesX, tilesY, minX: fx(x), maxX: fx(x + 1), minY: fy(y), maxY: fy(y + 1) });
    }
  }
  return tiles;
}

/**
 * mulberry32: a small, well-mixed 32-bit PRNG, so `-R` with one seed always gives one order
 * (and a fuzz run is reproducible from its seed: bench/agent-fuzz-frames.ts).
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates with a seeded PRNG. */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const next = seededRandom(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export function planRender(options: PlanOptions): RenderPlan {
  // Frames are >= 0: Blender reads `-s -2` as "2 before the scene's start" (measured: Blender
  // 3.4 rendered -1..5 for `-s -2 -e -1` of a 1..6 scene), so a negative frame cannot be passed.
  const start = integer('-s', 'start frame', options.start, 0, 1_048_574);
  const end = integer('-e', 'end frame', options.end, 0, 1_048_574);
  const step = integer('-j', 'frame step', options.step ?? 1, 1);
  if (end < start) {
    throw new RenderPlanError('-e', `end frame ${end} is before start frame ${start}`, 'give -s START -e END with END >= START');
  }
  if (options.nodes !== undefined && options.framesPerTask !== undefined) {
    throw new RenderPlanError('--nodes', '-S (frames per task) and --nodes (split over N tasks) cannot be combined', 'choose one way to chunk the range');
  }
  const tilesX = integer('-X', 'tiles across', options.tilesX ?? 1, 1, MAX_TILES_PER_AXIS);
  const tilesY = integer('-Y', 'tiles down', options.tilesY ?? 1, 1, MAX_TILES_PER_AXIS);
  const frames = frameList(start, end, step);
  const chunks =
    options.nodes !== undefined
      ? chunkEvenly(frames, integer('--nodes', 'number of tasks', options.nodes, 1))
      : chunkBySize(frames, integer('-S', 'frames per task', options.framesPerTask ?? 1, 1));
  const tiles = tilesX * tilesY === 1 ? [null] : frameTiles(tilesX, tilesY);
  const count = chunks.length * tiles.length;
  if (count > MAX_PLAN_TASKS) {
    throw new RenderPlanError('-S', `the plan has ${count} tasks, more than the ${MAX_PLAN_TASKS} one render job may hold`, 'render more frames per task (-S) or fewer tiles');
  }
  // A frame's tiles are adjacent in order, so its stitch can start as early as possible.
  let specs: Omit<TaskSpec, 'taskId'>[] = [];
  for (const chunk of chunks) {
    for (const tile of tiles) {
      specs.push({ frames: chunk, start: chunk[0]!, end: chunk[chunk.length - 1]!, step, tile });
    }
  }
  if (options.randomSeed !== undefined) specs = seededShuffle(specs, integer('-R', 'random seed', options.randomSeed, 0, 0xffffffff));
  const tasks = specs.map((spec, i) => ({ taskId: i + 1, ...spec }));
  return { frames, step, tilesX, tilesY, chunks, tasks };
}
