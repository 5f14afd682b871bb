import t from 'tap';
import { WebSocket } from 'ws';
import { TestFarm } from '../helpers/farm.js';

function agentUrl(farm: TestFarm): string {
  return farm.url.replace(/^http/, 'ws') + '/agent';
}

/** Opens a socket and resolves with how it ended: an HTTP status, or a close code and the frames received. */
function probe(url: string, token: string | undefined, frames: string[]): Promise<{ status?: number; code?: number; received: string[] }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const received: string[] = [];
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode, received }));
    ws.on('open', () => frames.forEach((f) => ws.send(f)));
    ws.on('message', (data) => received.push(data.toString()));
    ws.on('close', (code) => resolve({ code, received }));
    ws.on('error', () => undefined);
  });
}

const hello = (protocolVersion: number): string =>
  JSON.stringify({
    type: 'hello', protocolVersion, agentVersion: 'x', agentId: 'probe', hostname: 'probe', group: 'default', arch: 'lx-amd64',
    cpus: 1, sockets: 1, cores: 1, threads: 1, slots: 1, memTotalBytes: 1, swapTotalBytes: 0, labels: {}, attempts: [],
  });

t.test('the agent socket and the API refuse what is not authenticated or not valid, without harm', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, slots: 1 });
  const url = agentUrl(farm);

  t.equal((await probe(url, undefined, [])).status, 401, 'no token: the upgrade is refused');
  t.equal((await probe(url, 'wrong-token', [])).status, 401, 'wrong token: refused');
  t.equal((await probe(url, farm.token('api'), [])).status, 401, 'the API token is not an agent token');

  const garbage = await probe(url, farm.token('agent'), ['{not json']);
  t.equal(garbage.code, 4400, 'a malformed frame closes that connection with 4400');
  const wrongShape = await probe(url, farm.token('agent'), [JSON.stringify({ type: 'hello', protocolVersion: 1 })]);
  t.equal(wrongShape.code, 4400, 'a frame that fails the schema closes the connection');
  const oldAgent = await probe(url, farm.token('agent'), [hello(999)]);
  t.equal(oldAgent.code, 4426, 'another protocol version is refused');
  t.match(JSON.parse(oldAgent.received[0]!), { type: 'refused', reason: /protocol 999 .* speaks 1/ }, 'with a reason naming both versions');

  const api = await fetch(`${farm.url}/api/v1/jobs`);
  t.equal(api.status, 401, 'the API needs its token');
  t.match(await api.json(), { error: /API token/ });

  // The farm still works: the real agent still runs work.
  const jobId = await farm.submit(['-cwd', '-b', 'y', 'true']);
  await farm.waitForJob(jobId);
  t.equal(await farm.hostState('node1'), 'online');
});
