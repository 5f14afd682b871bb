import t from 'tap';
import type { WebSocket } from 'ws';
import { AgentSession } from '../../master/agent-session.js';
import type { HostInventory } from '../../protocol/agent-messages.js';

/** What the master sends one agent in one go leaves in one write of its socket. */

const inventory: HostInventory = {
  agentVersion: 'test', agentId: 'a-1', hostname: 'vm-1', group: 'default', arch: 'lx-amd64', cpus: 1, sockets: 1, cores: 1,
  threads: 1, slots: 1, memTotalBytes: 1e9, swapTotalBytes: 0, labels: {},
};

function connection(open = true) {
  const events: string[] = [];
  const ws = { OPEN: 1, readyState: open ? 1 : 3, send: (data: string) => events.push(`send ${(JSON.parse(data) as { type: string }).type}`) };
  const socket = { cork: () => events.push('cork'), uncork: () => events.push('uncork') };
  return { session: new AgentSession(ws as unknown as WebSocket, inventory, '127.0.0.1', 0, socket), events };
}

t.test("frames sent in one run of the master's code (an ack, then the next assignment) are written together", async (t) => {
  const { session, events } = connection();
  session.send({ type: 'ack', attemptId: 'x' });
  session.send({ type: 'kill', attemptId: 'y', reason: 'test' });
  t.same(events, ['cork', 'send ack', 'send kill'], 'held while the turn runs');
  await Promise.resolve();
  t.same(events, ['cork', 'send ack', 'send kill', 'uncork'], 'written once it is done');
  session.send({ type: 'ack', attemptId: 'z' });
  await Promise.resolve();
  t.same(events.slice(4), ['cork', 'send ack', 'uncork'], 'a later frame is gathered anew');
});

t.test('nothing is sent, nor the socket corked, once the connection is closing', async (t) => {
  const { session, events } = connection(false);
  session.send({ type: 'ack', attemptId: 'x' });
  await Promise.resolve();
  t.same(events, []);
});
