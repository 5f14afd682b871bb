import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';

/**
 * Issue 14: heartbeats cost the master whether anything happens or not, so a farm too large for
 * the master's heartbeat budget heartbeats less often. Here the budget is 2 a second with a
 * 300 ms interval: one agent is already too many, and three need 1.5 s (the master steps a fifth
 * beyond: 1.8 s). Every agent is told; one that goes silent is dropped after three of the
 * slowed intervals, not of the configured one; the farm shrinks and the interval with it.
 */

async function heartbeatSeconds(farm: TestFarm): Promise<number> {
  const text = await (await fetch(`${farm.url}/metrics`)).text();
  const line = /^qfarm_agent_heartbeat_interval_seconds (\S+)$/m.exec(text);
  if (!line) throw new Error(`/metrics has no qfarm_agent_heartbeat_interval_seconds:\n${text}`);
  return Number(line[1]);
}

t.test('a farm larger than the heartbeat budget heartbeats less often, and a silent agent is dropped after 3 of the slowed intervals', async (t) => {
  const farm = await TestFarm.start(t, { agents: 3, heartbeatMs: 300, masterArgs: ['--heartbeats-per-second', '2'] });
  t.equal(await heartbeatSeconds(farm), 1.8, 'three agents at 2 heartbeats a second: 1.5 s needed, 1.8 s told');
  for (const name of ['node1', 'node2', 'node3']) {
    const told = fs.readFileSync(path.join(farm.home, `agent-${name}.log`), 'utf8');
    t.match(told, /master set the heartbeat interval[^\n]*1800|"heartbeatMs":1800[^\n]*master set the heartbeat interval/, `${name} was told the new interval`);
  }

  // A stopped agent sends nothing: at 300 ms it would be gone after 0.9 s, at 1.8 s after 5.4 s.
  const stopped = farm.agents.get('node3')!;
  stopped.kill('SIGSTOP');
  t.teardown(() => void stopped.kill('SIGCONT'));
  const since = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 3000));
  t.equal(await farm.hostState('node3'), 'online', 'still connected 3 s later: the master waits 3 slowed intervals');
  await farm.waitFor(async () => (await farm.hostState('node3')) !== 'online', 10_000, 'node3 to be dropped');
  const silentFor = Date.now() - since;
  t.ok(silentFor >= 5000 && silentFor < 9000, `dropped after ${silentFor} ms of silence (3 × 1.8 s = 5.4 s, checked every 300 ms)`);
  t.match(farm.masterLogText(), /agent missed 3 heartbeats/);
  t.equal(await farm.hostState('node1'), 'online', 'the agents beating at the slower pace were never taken for silent');
  t.equal(await farm.hostState('node2'), 'online');

  // Two agents need 1 s: at most 1.8 / 1.2 = 1.5 s, so the master speeds them up again.
  await farm.waitFor(async () => (await heartbeatSeconds(farm)) === 1.2, 5000, 'the interval to shrink with the farm');
  t.pass('two agents left: 1.2 s');
});
