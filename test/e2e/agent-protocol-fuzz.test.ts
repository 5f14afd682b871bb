import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { TestFarm } from '../helpers/farm.js';
import { fuzzAgentProtocol, rssBytes } from '../../bench/agent-fuzz-frames.js';

/**
 * A bounded protocol fuzzer against a real master with a real agent running a real task:
 * random, truncated, mistyped, oversized, deep and wrong-owner frames, seeded (QFARM_FUZZ_SEED
 * reproduces a failure). Afterwards the master is alive, its memory sane, the victim task's
 * real result is the one committed, and new work runs.
 */
t.test('the master survives a few thousand hostile agent frames and keeps its promises', async (t) => {
  const seed = Number(process.env['QFARM_FUZZ_SEED'] ?? 20261129);
  t.comment(`fuzz seed ${seed} (QFARM_FUZZ_SEED=${seed} reproduces this run)`);
  const farm = await TestFarm.start(t, { agents: 1, slots: 1 });
  const gate = path.join(farm.work, 'gate');
  const victim = await farm.submit(['-q', 'default', '-cwd', '-b', 'y', 'sh', '-c', 'while [ ! -e "$1" ]; do sleep 0.05; done; echo real; exit 7', 'x', gate]);
  const db = new Database(path.join(farm.home, 'store.sqlite'), { readonly: true });
  t.teardown(() => db.close());
  let attemptId: string | undefined;
  await farm.waitFor(() => (attemptId = db.prepare(`SELECT id FROM attempts WHERE job_id = ? AND state = 'running'`).pluck().get(victim) as string | undefined) !== undefined, 20_000, 'the victim task to run');
  const agentId = fs.readFileSync(path.join(farm.home, 'agents', 'node1', 'agent-id'), 'utf8').trim();

  const pid = farm.master!.pid!;
  const before = rssBytes(pid);
  const report = await fuzzAgentProtocol({ url: farm.url, agentToken: farm.token('agent'), frames: 3000, seed, victimAttempts: [attemptId!], victimAgentIds: [agentId] });
  t.comment(`sent ${report.sent} frames over ${report.connections} connections; closes ${JSON.stringify(report.closes)}; kinds ${JSON.stringify(report.kinds)}`);
  t.equal(report.sent, 3000);
  t.ok((report.closes['4403'] ?? 0) > 0, 'wrong-owner frames were refused with 4403');
  t.ok((report.closes['4400'] ?? 0) > 0, 'malformed frames were refused with 4400');
  t.ok((report.closes['4409'] ?? 0) > 0, 'hellos with the live agent\'s id were refused with 4409');

  t.equal(farm.master!.exitCode, null, 'the master is still running');
  const after = rssBytes(pid);
  t.comment(`master RSS ${(before / 2 ** 20).toFixed(1)} MiB before, ${(after / 2 ** 20).toFixed(1)} MiB after`);
  t.ok(after - before < 100 * 2 ** 20, 'the master\'s memory did not balloon');

  t.equal(db.prepare('SELECT state FROM attempts WHERE id = ?').pluck().get(attemptId), 'running', 'the victim attempt is untouched');
  fs.writeFileSync(gate, '');
  await farm.waitForJob(victim);
  t.equal(db.prepare('SELECT exit_status FROM tasks WHERE job_id = ?').pluck().get(victim), 7, 'its real result (exit 7) is the one committed');
  t.equal(db.prepare('SELECT COUNT(*) FROM attempts WHERE job_id = ?').pluck().get(victim), 1, 'and it ran exactly once');
  const log = await (await fetch(`${farm.url}/api/v1/logs/${victim}/1`, { headers: { authorization: `Bearer ${farm.token('api')}` } })).text();
  t.equal(log, 'real\n', 'no fuzz output reached its log');

  t.equal(await farm.hostState('node1'), 'online', 'the real agent is still connected');
  const next = await farm.submit(['-q', 'default', '-cwd', '-b', 'y', 'true']);
  await farm.waitForJob(next);
  t.equal(db.prepare('SELECT exit_status FROM tasks WHERE job_id = ?').pluck().get(next), 0, 'and new work runs on it');
});
