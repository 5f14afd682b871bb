import { test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sqlLimit } from '../../master/store/database.js';
import { AttemptReader } from '../../master/store/attempt-reader.js';
import { agentViewsFor } from '../../master/store/group-store.js';
import { removeHost } from '../../master/store/host-removal.js';
import { openTestStore } from '../helpers/test-store.js';

const MASTER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'master');

test('sqlLimit writes a whole number of rows into the SQL and refuses anything else', (t) => {
  t.equal(sqlLimit(32), 'LIMIT 32');
  t.equal(sqlLimit(0), 'LIMIT 0');
  for (const bad of [-1, 1.5, Number.NaN, Infinity, 2 ** 60]) t.throws(() => sqlLimit(bad), /not a row count/, `refuses ${bad}`);
  t.end();
});

test('no master statement binds its LIMIT, but the dashboard page the browser chooses', (t) => {
  // A bound LIMIT makes SQLite compile the statement again on every run (database.ts sqlLimit).
  const sources = fs.readdirSync(MASTER, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  const inCode = (line: string): boolean => !/^\s*(\*|\/\/|\/\*)/.test(line);
  const bound = sources.filter((f) => fs.readFileSync(path.join(MASTER, f), 'utf8').split('\n').some((line) => inCode(line) && /LIMIT \?/.test(line)));
  t.same(bound, [path.join('store', 'web-reader.ts')]);
  t.end();
});

test("every lookup of attempts by agent is served by the index of live attempts, never a scan of the farm's history", async (t) => {
  const { db, transitions } = openTestStore(t, 'statements');
  // The statements as the store runs them: recorded as they are prepared.
  const prepared: string[] = [];
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    prepared.push(sql);
    return prepare(sql);
  }) as typeof db.prepare;
  const attempts = new AttemptReader(db);
  attempts.activeOf('vm-1');
  attempts.leaseHolders();
  transitions.markHostLost('vm-1', 'host lost: test');
  await agentViewsFor(db, 'default', { isConnected: () => true, unwrittenLastEndOf: () => undefined });
  transitions.upsertHost({ agentId: 'vm-2', hostname: 'vm-2', group: 'default', arch: 'lx-amd64', cpus: 1, sockets: 1, cores: 1, threads: 1, slots: 1, memTotalBytes: 1e9, swapTotalBytes: 0, labels: {}, agentVersion: 'test' });
  removeHost(db, 'vm-2', () => false);
  db.prepare = prepare;
  const byAgent = prepared.filter((sql) => /FROM attempts/.test(sql) && /agent_id = \?|DISTINCT agent_id|hostname = \?/.test(sql));
  t.equal(byAgent.length, 5, "an agent's live attempts (3 callers), the lease holders, a removed host's");
  for (const sql of byAgent) {
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...(sql.includes('?') ? ['vm-1'] : [])) as { detail: string }[]).map((r) => r.detail).join('; ');
    t.match(plan, /USING (COVERING )?INDEX attempts_live/, `${sql.replace(/\s+/g, ' ').slice(0, 80)}…: ${plan}`);
  }
});
