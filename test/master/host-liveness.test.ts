import t from 'tap';
import { pino } from 'pino';
import type { AgentSession } from '../../master/agent-session.js';
import { HostLiveness } from '../../master/host-liveness.js';

/**
 * Heartbeats and hosts.last_seen (issue 14): a connected agent's row is written every 30 s and
 * when it leaves, not at every heartbeat; an agent silent for three heartbeats is dropped.
 */

const quiet = pino({ level: 'silent' });
const heartbeat = { type: 'heartbeat' as const, load1: 1.5, memUsedBytes: 2048, swapUsedBytes: 0, running: [] };

function session(agentId: string, lastFrameAt: number, onTerminate: () => void = () => {}, silenceLimitMs = 30): AgentSession {
  return { agentId, hostname: agentId, lastFrameAt, lastSeenStoredAt: lastFrameAt, silenceLimitMs, load1: 0, memUsedBytes: 0, swapUsedBytes: 0, ws: { terminate: onTerminate } } as unknown as AgentSession;
}

const byId = (sessions: AgentSession[]): Map<string, AgentSession> => new Map(sessions.map((s) => [s.agentId, s]));

t.test("a heartbeat updates the host's load at once and its last_seen row only every 30 s; leaving writes it", (t) => {
  const written: string[][] = [];
  const liveness = new HostLiveness({ touchHosts: (ids) => written.push([...ids].sort()) }, byId([]), { now: () => 0 }, quiet, { baseMs: 5000, perSecond: 2000 });
  const a = session('a', 1_000);
  liveness.heard(a, heartbeat);
  t.same([a.load1, a.memUsedBytes], [1.5, 2048], 'the load is the latest heartbeat');
  a.lastFrameAt = 29_000;
  liveness.heard(a, heartbeat);
  liveness.stop();
  t.same(written, [], 'within 30 s of the last write: nothing to write');
  a.lastFrameAt = 31_000;
  liveness.heard(a, heartbeat);
  liveness.left('b');
  liveness.stop();
  t.same(written, [['a', 'b']], 'due after 30 s, and the agent that left, in one batch');
  t.equal(a.lastSeenStoredAt, 31_000);
  liveness.stop();
  t.same(written.length, 1, 'written once');
  t.end();
});

t.test('an agent silent for three of its heartbeat intervals has its connection dropped; the others keep theirs', async (t) => {
  const now = 10_000;
  const dropped: string[] = [];
  const sessions = [
    session('quiet', now - 31, () => dropped.push('quiet')),
    session('chatty', now - 5, () => dropped.push('chatty')),
    // Told a slower pace (a larger farm): 3 × 20 ms.
    session('slowed', now - 45, () => dropped.push('slowed'), 60),
  ];
  const liveness = new HostLiveness({ touchHosts: () => {} }, byId(sessions), { now: () => now }, quiet, { baseMs: 10, perSecond: 2000 });
  liveness.start();
  t.teardown(() => liveness.stop());
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.same([...new Set(dropped)], ['quiet']);
});
