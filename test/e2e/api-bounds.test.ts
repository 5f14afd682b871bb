import t from 'tap';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { TestFarm } from '../helpers/farm.js';

/** Bounded everything (issue 9, item 6), as the HTTP API sees it: every bad request is a clear 4xx and costs little. */

async function call(farm: TestFarm, method: string, route: string, body?: string, contentType = 'application/json'): Promise<{ status: number; json: { error?: string; hint?: string } }> {
  const res = await fetch(`${farm.url}/api/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${farm.token('api')}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
    body,
  });
  return { status: res.status, json: (await res.json()) as { error?: string; hint?: string } };
}

t.test('HTTP bodies, JSON depth and query parameters are bounded', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, slots: 1 });

  const bomb = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
  const deep = await call(farm, 'POST', '/jobs', bomb);
  t.equal(deep.status, 400, 'a JSON depth bomb is a 400');
  t.match(deep.json.error, /nests arrays\/objects deeper than 64 levels/);
  const deepObject = await call(farm, 'POST', '/jobs/delete', '{"a":'.repeat(65) + '1' + '}'.repeat(65));
  t.equal(deepObject.status, 400, 'so is 65 levels of objects on another route');
  const quoted = await call(farm, 'POST', '/jobs/delete', JSON.stringify({ targets: [{ job: '['.repeat(1000) }], users: [], force: false }));
  t.equal(quoted.status, 200, `brackets inside strings are not nesting: ${JSON.stringify(quoted.json)}`);

  const big = await call(farm, 'POST', '/jobs/delete', JSON.stringify({ targets: [], users: ['x'.repeat(300 * 1024)], force: false }));
  t.equal(big.status, 413, 'a 300 KiB body on an action route is refused');
  t.match(big.json, { error: /too large/i, hint: /262144 bytes/ });

  const dup = await call(farm, 'GET', '/jobs?user=alice&user=bob');
  t.equal(dup.status, 400, 'a repeated query parameter is a 400, not a 500');
  t.match(dup.json.error, /query parameter "user" is given 2 times: give it once/);

  const poisoned = await call(farm, 'POST', '/jobs/delete', '{"__proto__":{"x":1},"targets":[],"users":[],"force":false}');
  t.equal(poisoned.status, 400, 'prototype poisoning is still refused by the JSON parser');
  t.match(poisoned.json.error, /not valid JSON/);

  // A script at the documented limit (8 Mi characters) is accepted, and runs.
  const script = '#!/bin/sh\necho big-script-ran\n' + '#'.repeat(8 * 1024 * 1024 - 40) + '\n';
  const sub = await farm.run('qsub', ['-terse', '-q', 'default', '-cwd', '-o', 'big.out', '-j', 'y'], { input: script });
  t.equal(sub.code, 0, `an 8 MiB script is accepted: ${sub.stderr}`);
  await farm.waitForJob(Number.parseInt(sub.stdout, 10));

  // The farm still works.
  const jobId = await farm.submit(['-q', 'default', '-cwd', '-b', 'y', 'true']);
  await farm.waitForJob(jobId);
});

t.test('qdel -t of a huge range deletes without a row per task', async (t) => {
  const farm = await TestFarm.start(t, { agents: 0 });
  const jobId = await farm.submit(['-t', '1-2000000000', '-b', 'y', 'true']);
  const started = Date.now();
  const del = await farm.run('qdel', ['-t', '1-2000000000', String(jobId)]);
  const ms = Date.now() - started;
  t.equal(del.code, 0, del.stderr);
  t.match(del.stdout, new RegExp(`has deleted job-array task ${jobId}\\.1\\n`));
  t.ok(ms < 10_000, `answered in ${ms} ms`);
  t.ok(await farm.jobFinished(jobId), 'the job is gone');
  const db = new Database(path.join(farm.home, 'store.sqlite'), { readonly: true });
  t.ok((db.prepare('SELECT COUNT(*) FROM tasks WHERE job_id = ?').pluck().get(jobId) as number) < 10, 'no row per task');
  db.close();

  // A range reaching back to the cursor and on to the end goes without rows, after earlier deletes too.
  const partial = await farm.submit(['-t', '1-2000000000', '-b', 'y', 'true']);
  const few = await farm.run('qdel', ['-t', '2-5', String(partial)]);
  t.equal(few.code, 0, few.stderr);
  t.match(few.stdout, new RegExp(`has deleted job-array task ${partial}\\.5\\n`), 'a small range is deleted task by task');
  t.notOk(await farm.jobFinished(partial), 'the other tasks stay queued');

  // A huge range that starts beyond the cursor is one deleted range, not a row per task.
  const middle = await farm.run('qdel', ['-t', '11-2000000000', String(partial)]);
  t.equal(middle.code, 0, middle.stderr);
  t.notOk(await farm.jobFinished(partial), 'tasks 1 and 6-10 stay queued');

  const rest = await farm.run('qdel', ['-t', '1-2000000000', String(partial)]);
  t.equal(rest.code, 0, rest.stderr);
  t.ok(await farm.jobFinished(partial), 'everything from the cursor on is deleted without rows');
});
