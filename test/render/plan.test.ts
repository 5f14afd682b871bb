import t from 'tap';
import { RenderPlanError } from '../../render/errors.js';
import { chunkEvenly, frameList, frameTiles, planRender, seededShuffle } from '../../render/plan.js';

t.test('one task per frame by default', async (t) => {
  const plan = planRender({ start: 1, end: 5 });
  t.same(plan.tasks.map((x) => [x.taskId, x.start, x.end, x.frames]), [
    [1, 1, 1, [1]],
    [2, 2, 2, [2]],
    [3, 3, 3, [3]],
    [4, 4, 4, [4]],
    [5, 5, 5, [5]],
  ]);
  t.equal(plan.tasks[0]!.tile, null, 'NX*NY = 1 means whole frames, no border');
});

t.test('-S chunks: the last chunk is shorter', async (t) => {
  const plan = planRender({ start: 1, end: 10, framesPerTask: 4 });
  t.same(plan.tasks.map((x) => x.frames), [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]);
  t.same(plan.tasks.map((x) => [x.start, x.end]), [[1, 4], [5, 8], [9, 10]]);
});

t.test('a step that does not divide the range stops before END', async (t) => {
  t.same(frameList(1, 10, 3), [1, 4, 7, 10]);
  t.same(frameList(1, 9, 3), [1, 4, 7]);
  const plan = planRender({ start: 1, end: 9, step: 3, framesPerTask: 2 });
  t.same(plan.tasks.map((x) => [x.start, x.end, x.step, x.frames]), [
    [1, 4, 3, [1, 4]],
    [7, 7, 3, [7]],
  ], 'chunk END is its last real frame, so -s/-e/-j render exactly those');
  t.same(plan.frames, [1, 4, 7]);
});

t.test('--nodes splits evenly, sizes differ by at most one', async (t) => {
  const plan = planRender({ start: 1, end: 10, nodes: 4 });
  t.same(plan.tasks.map((x) => x.frames.length), [3, 3, 2, 2]);
  t.same(plan.tasks.flatMap((x) => x.frames), frameList(1, 10, 1));
  t.same(chunkEvenly([1, 2], 5).map((c) => c.length), [1, 1], 'more nodes than frames: one frame each');
  t.same(chunkEvenly(frameList(0, 99, 1), 7).map((c) => c.length), [15, 15, 14, 14, 14, 14, 14]);
  t.throws(() => planRender({ start: 1, end: 2, nodes: 2, framesPerTask: 1 }), RenderPlanError);
});

t.test('tiles: NX*NY tasks per chunk, adjacent, fractions meeting exactly', async (t) => {
  const plan = planRender({ start: 1, end: 2, tilesX: 3, tilesY: 2 });
  t.equal(plan.tasks.length, 12);
  t.same(plan.tasks.slice(0, 6).map((x) => x.frames[0]), [1, 1, 1, 1, 1, 1], "a frame's tiles are adjacent");
  const tiles = frameTiles(3, 2);
  t.same(tiles.map((x) => [x.x, x.y]), [[0, 0], [1, 0], [2, 0], [0, 1], [1, 1], [2, 1]]);
  for (const tile of tiles) {
    const right = tiles.find((o) => o.x === tile.x + 1 && o.y === tile.y);
    if (right) t.equal(right.minX, tile.maxX, 'no gap, no overlap across');
    const up = tiles.find((o) => o.x === tile.x && o.y === tile.y + 1);
    if (up) t.equal(up.minY, tile.maxY, 'no gap, no overlap down');
  }
  t.equal(tiles[2]!.maxX, 1);
  t.equal(tiles[5]!.maxY, 1);
  t.equal(tiles[0]!.minX, 0);
});

t.test('chunks and tiles combine: each task is one tile of a chunk', async (t) => {
  const plan = planRender({ start: 1, end: 5, framesPerTask: 2, tilesX: 2, tilesY: 1 });
  t.same(plan.tasks.map((x) => [x.start, x.end, x.tile!.x]), [[1, 2, 0], [1, 2, 1], [3, 4, 0], [3, 4, 1], [5, 5, 0], [5, 5, 1]]);
});

t.test('-R shuffles reproducibly, keeping every task', async (t) => {
  const a = planRender({ start: 1, end: 50, randomSeed: 7 });
  const b = planRender({ start: 1, end: 50, randomSeed: 7 });
  const c = planRender({ start: 1, end: 50, randomSeed: 8 });
  t.same(a.tasks, b.tasks, 'same seed, same order');
  t.notSame(a.tasks.map((x) => x.start), c.tasks.map((x) => x.start), 'another seed, another order');
  t.notSame(a.tasks.map((x) => x.start), frameList(1, 50, 1), 'actually shuffled');
  t.same(a.tasks.map((x) => x.start).sort((p, q) => p - q), frameList(1, 50, 1), 'a permutation');
  t.same(a.tasks.map((x) => x.taskId), frameList(1, 50, 1), 'task ids stay 1..N in dispatch order');
  t.same(seededShuffle([], 1), []);
});

t.test('bad ranges and options are precise errors', async (t) => {
  t.throws(() => planRender({ start: 5, end: 1 }), { option: '-e', message: /end frame 1 is before start frame 5/ });
  t.throws(() => planRender({ start: 1, end: 2, step: 0 }), { option: '-j' });
  t.throws(() => planRender({ start: 1.5, end: 2 }), { option: '-s' });
  t.throws(() => planRender({ start: 1, end: 2, framesPerTask: 0 }), { option: '-S' });
  t.throws(() => planRender({ start: 1, end: 2, tilesX: 0 }), { option: '-X' });
  t.throws(() => planRender({ start: 1, end: 2, tilesY: 65 }), { option: '-Y' });
  t.throws(() => planRender({ start: 1, end: 200_000 }), { message: /more than the 100000/ });
  t.same(planRender({ start: 0, end: 0 }).tasks.map((x) => x.frames), [[0]], 'frame 0 is a frame');
  t.throws(() => planRender({ start: -2, end: 3 }), { option: '-s', message: /-s \(start frame\) must be an integer from 0 to 1048574, not -2/ });
});
