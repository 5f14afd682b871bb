import t from 'tap';
import { HEARTBEAT_MS_MAX } from '../../protocol/agent-messages.js';
import { DEFAULT_HEARTBEATS_PER_SECOND, HeartbeatPace } from '../../master/heartbeat-pace.js';

t.test('the configured interval stands until the farm heartbeats more than the master takes', async (t) => {
  const pace = new HeartbeatPace(5000, DEFAULT_HEARTBEATS_PER_SECOND);
  for (const agents of [1, 100, 2_500, 5_000]) t.equal(pace.adjust(agents), undefined, `${agents} agents: no change`);
  t.equal(pace.intervalMs, 5000);
  t.equal(pace.adjust(6_000), 7200, 'beyond 5,000 agents every 5 s, slowed');
});

t.test('a growing farm is slowed in steps of a fifth, each a fifth beyond what it needs', async (t) => {
  const pace = new HeartbeatPace(5000, 2000);
  const told: Array<[number, number]> = [];
  for (let agents = 1; agents <= 20_000; agents++) {
    const next = pace.adjust(agents);
    if (next !== undefined) told.push([agents, next]);
  }
  // 11,999 agents need 6 s (a fifth over 5 s): told 7.2 s; 17,279 need 8.64 s (a fifth over 7.2 s).
  t.same(told, [
    [11_999, 7200],
    [17_279, 10_400],
  ], 'two re-pacings while 20,000 agents join, not one per join');
  t.ok((20_000 * 1000) / pace.intervalMs <= 2000, `20,000 agents at ${pace.intervalMs} ms stay within 2,000 heartbeats a second`);
});

t.test('a shrinking farm is sped up again, back to the configured interval', async (t) => {
  const pace = new HeartbeatPace(5000, 2000);
  for (let agents = 1; agents <= 20_000; agents++) pace.adjust(agents);
  t.equal(pace.intervalMs, 10_400);
  t.equal(pace.adjust(19_000), undefined, 'a few agents leaving change nothing');
  t.equal(pace.adjust(14_000), 8400, 'less than 1/1.2 of the interval needed: sped up');
  t.equal(pace.adjust(3), 5000, 'a small farm is back at the configured 5 s');
});

t.test('the interval never exceeds what the protocol allows', async (t) => {
  const pace = new HeartbeatPace(5000, 1);
  t.equal(pace.adjust(1_000_000), HEARTBEAT_MS_MAX);
});
