import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `npm test` (scripts/run-tests.mjs) ends with what CI reads: every failed assertion with where
 * it is and what was found, every skip with its reason, then `N passed, N failed`. CI may keep
 * only the end of the output, so a failure must be named there, not only in the scroll-back.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

t.test('failures and skips are listed at the end, before the count', (t) => {
  // The runner's own tap must not think it runs inside this one.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TAP') && !k.startsWith('_TAPJS')));
  const run = spawnSync(process.execPath, ['scripts/run-tests.mjs', 'test/fixtures/runner-sample.ts'], { cwd: root, env, encoding: 'utf8', timeout: 120_000 });
  t.equal(run.status, 1, `the run fails ${run.stderr}`);
  const tail = run.stdout.slice(run.stdout.lastIndexOf('\nfailed ('));
  const lines = tail.trim().split('\n');
  t.equal(lines.at(-1), '2 passed, 3 failed, 1 skipped', 'the last line is the count');
  t.equal(lines[0], 'failed (3):');
  const named = lines.filter((l) => /^ {2}\S/.test(l));
  t.same(named, [
    '  test/fixtures/runner-sample.ts: outer > inner fails > arithmetic',
    '  test/fixtures/runner-sample.ts: top fails > a pattern',
    '  test/fixtures/runner-sample.ts: throws > broke on purpose',
    '  test/fixtures/runner-sample.ts: not here: needs a GPU',
  ], 'each failure by its file and subtests (not the subtests that failed because of it), then the skip');
  t.match(tail, /arithmetic\n {6}at: test\/fixtures\/runner-sample\.ts:10:\d+\n {6}diff: \|\n(.*\n){3} {8}-3\n {8}\+2\n/, 'where, and what was found against what was wanted');
  t.notMatch(tail, /source:|stack:/, "tap's source excerpt and stack are left to the scroll-back");
  t.end();
});
