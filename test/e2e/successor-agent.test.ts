import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';
import { logs, qacctRecords, query } from '../helpers/farm-records.js';

/**
 * A successor agent delivers an unacknowledged result, against the real master (issue 15). The
 * task finishes while the master is down; its agent stores the result in its state dir and is
 * killed (SIGKILL) before any master could acknowledge it. A new agent process on the same
 * machine with the same --state-dir delivers it: the store, `qacct -j` and `qfarm logs` show the
 * result once and each output line once, and the task does not run again.
 */

/** Results the agent keeps until acknowledged (agent/result-store.ts). */
function storedResults(stateDir: string): string[] {
  try {
    return fs.readdirSync(path.join(stateDir, 'results')).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
}

t.test('a result stored by a killed agent is delivered once by its successor, and the task does not run again', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, leaseGraceMs: 20_000 });
  const stateDir = path.join(farm.home, 'agents', 'node1');
  const gate = path.join(farm.work, 'gate');
  const runs = path.join(farm.work, 'runs');
  const jobId = await farm.submit([
    '-q', 'default', '-cwd', '-b', 'y',
    'sh', '-c', 'echo ran >> "$2"; echo before; while [ ! -e "$1" ]; do sleep 0.05; done; echo after; exit 5', 'x', gate, runs,
  ]);
  await farm.waitFor(async () => (await logs(farm, String(jobId))) === 'before\n', 20_000, 'the first line to reach the master');
  const [attempt] = query<{ id: string }>(farm, 'SELECT id FROM attempts WHERE job_id = ?', jobId);
  const firstAgentLog = fs.readFileSync(path.join(farm.home, 'agent-node1.log'), 'utf8');
  const agentId = /"agentId":"([^"]+)"/.exec(firstAgentLog)?.[1];

  // Nobody to acknowledge: the task ends, its agent stores the result, then dies.
  await farm.stopProcess(farm.master, 'SIGKILL');
  fs.writeFileSync(gate, '');
  await farm.waitFor(() => storedResults(stateDir).length === 1, 20_000, 'the agent to store the result in its state dir');
  await farm.stopProcess(farm.agents.get('node1'), 'SIGKILL');
  t.same(storedResults(stateDir), [`${encodeURIComponent(attempt!.id)}.json`], 'the unacknowledged result outlived its agent');

  await farm.startMaster(Number(new URL(farm.url).port));
  // A new agent process, same machine, same --state-dir (farm.startAgent reuses agents/node1).
  await farm.startAgent('node1');
  await farm.waitForJob(jobId);

  t.same(query(farm, 'SELECT id, state, exit_status FROM attempts WHERE job_id = ?', jobId), [{ id: attempt!.id, state: 'done', exit_status: 5 }], 'the same attempt, committed once');
  t.same(query(farm, 'SELECT state, exit_status, attempts FROM tasks WHERE job_id = ?', jobId), [{ state: 'done', exit_status: 5, attempts: 1 }], 'the task was not requeued');
  const records = await qacctRecords(farm, jobId);
  t.equal(records.length, 1, 'qacct shows one record');
  t.match(records[0], /^exit_status\s+5\s*$/m, 'with the stored exit status');
  t.equal(await logs(farm, String(jobId)), 'before\nafter\n', 'each line once: "before" (seen live, replayed) and "after" (only ever on the dead agent)');
  t.equal(fs.readFileSync(runs, 'utf8'), 'ran\n', 'the task ran once');

  const successorLog = fs.readFileSync(path.join(farm.home, 'agent-node1.log'), 'utf8').slice(firstAgentLog.length);
  t.match(successorLog, /result stored by a previous agent process will be delivered/, 'the successor delivered it');
  t.equal(/"agentId":"([^"]+)"/.exec(successorLog)?.[1], agentId, 'under the same agent id (same machine, same state dir)');
  await farm.waitFor(() => storedResults(stateDir).length === 0, 10_000, 'the successor to forget the acknowledged result');
});
