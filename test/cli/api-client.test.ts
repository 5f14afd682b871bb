import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { AddressInfo } from 'node:net';
import { ApiClient, ApiRequestError, InvalidResponseError, MasterUnreachableError } from '../../cli/api-client.js';
import { CliError } from '../../cli/cli-errors.js';
import { locateMaster } from '../../cli/master-location.js';
import { validators } from '../../protocol/api.js';
import { startFakeApi } from './fake-api.js';

t.test('finds the master from QFARM_HOME, or from QFARM_MASTER and QFARM_TOKEN', async (t) => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'qfarm-cli-'));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  t.throws(() => locateMaster({ QFARM_HOME: home }), { message: /cannot find the qfarm master: .*master\.json does not exist/, hint: /qfarm up/ });
  await writeFile(path.join(home, 'master.json'), JSON.stringify({ url: 'http://127.0.0.1:9/', pid: 1 }));
  t.throws(() => locateMaster({ QFARM_HOME: home }), { message: /cannot read the API token: .*api-token does not exist/ });
  await writeFile(path.join(home, 'api-token'), 'secret-token\n', { mode: 0o600 });
  t.same(locateMaster({ QFARM_HOME: home }), { url: 'http://127.0.0.1:9', token: 'secret-token' });
  t.same(locateMaster({ QFARM_HOME: home, QFARM_MASTER: 'http://other:1', QFARM_TOKEN: 't2' }), { url: 'http://other:1', token: 't2' });
  t.same(locateMaster({ QFARM_HOME: home, HOME: home, QFARM_MASTER: 'http://other:1' }), { url: 'http://other:1', token: 'secret-token' }, 'the token may still come from QFARM_HOME');
  await mkdir(path.join(home, '.qfarm'));
  await writeFile(path.join(home, '.qfarm', 'api-token'), 'own-token\n', { mode: 0o600 });
  t.same(locateMaster({ QFARM_HOME: home, HOME: home, QFARM_MASTER: 'http://other:1' }), { url: 'http://other:1', token: 'own-token' }, "a remote user's own token (qfarm token create) comes first");
  const socket = net.createServer().listen(path.join(home, 'api.sock'));
  await once(socket, 'listening');
  t.same(locateMaster({ QFARM_HOME: home }), { url: 'http://localhost', token: '', socketPath: path.join(home, 'api.sock') }, 'the local socket wins over master.json: no token');
  await new Promise((resolve) => socket.close(resolve));
  await writeFile(path.join(home, 'master.json'), '{"pid": 1}');
  t.throws(() => locateMaster({ QFARM_HOME: home }), { message: /not a valid master\.json: no "url" field/ });
});

t.test('sends the token, validates the answer, maps errors', async (t) => {
  const api = await startFakeApi((req) => {
    if (req.url === '/api/v1/hosts') return { body: { hosts: [] } };
    if (req.url === '/api/v1/jobs') return { status: 400, body: { error: 'job rejected: queue "nosuch" does not exist', hint: 'list the groups with qhost' } };
    if (req.url === '/api/v1/health') return { body: { ok: 'yes' } };
    if (req.url === '/api/v1/teapot') return { status: 500, body: 'not json' };
    return { status: 401, body: '' };
  });
  t.teardown(api.close);
  const client = new ApiClient({ url: api.url, token: 'tok-123' });
  t.same(await client.get('/hosts', 'hostsResponse'), { hosts: [] });
  t.same(await client.get('/hosts', validators.hostsResponse), { hosts: [] }, 'a validator object works as well as its name');
  t.equal(api.seen[0]!.authorization, 'Bearer tok-123');
  const rejected = await client.post('/jobs', { x: 1 }, 'submitResponse').catch((e: unknown) => e);
  t.type(rejected, ApiRequestError);
  t.match(rejected, { status: 400, error: 'job rejected: queue "nosuch" does not exist', hint: 'list the groups with qhost' });
  t.same(api.seen[2]!.body, { x: 1 });
  const invalid = await client.get('/health', 'healthResponse').catch((e: unknown) => e);
  t.type(invalid, InvalidResponseError, 'an answer that does not match the schema is an error, never used');
  t.match((invalid as Error).message, /invalid answer to GET \/health: \/\w+ /);
  const unauthorized = await client.get('/other', 'healthResponse').catch((e: unknown) => e);
  t.match(unauthorized, { status: 401, message: /refused the API token/, hint: /api-token/ });
  t.notMatch(String((unauthorized as Error).message) + String((unauthorized as CliError).hint), /tok-123/, 'the token is never printed');
  const broken = await client.get('/teapot', 'healthResponse').catch((e: unknown) => e);
  t.match(broken, { status: 500, message: /HTTP 500/ });
});

t.test('a master that is not running', async (t) => {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const error = await new ApiClient({ url, token: 'x' }).get('/hosts', 'hostsResponse').catch((e: unknown) => e);
  t.type(error, MasterUnreachableError);
  t.equal((error as Error).message, `error: unable to contact qfarm master at ${url}: connection refused. Is it running? Start it with 'qfarm up' or 'qfarm master'`);
  t.equal((error as CliError).exitCode, 1);
});

t.test('a master that does not answer in time', async (t) => {
  const api = await startFakeApi(() => new Promise(() => {}));
  t.teardown(api.close);
  const started = Date.now();
  const error = await new ApiClient({ url: api.url, token: 'x' }).get('/hosts', 'hostsResponse', { timeoutMs: 200 }).catch((e: unknown) => e);
  t.match(error, { message: /no answer within 0\.2 s/ });
  t.ok(Date.now() - started < 5000);
});

t.test('over QFARM_HOME/api.sock: no token, the same answers and errors as over a URL', async (t) => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'qfarm-cli-'));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  const socketPath = path.join(home, 'api.sock');
  const hosts = { hosts: [] };
  const api = await startFakeApi(
    (req) => {
      if (req.url === '/api/v1/hosts') return { body: hosts };
      if (req.url === '/api/v1/hosts?state=%C3%A9') return { body: hosts, chunked: true };
      if (req.url === '/api/v1/jobs') return { status: 400, body: { error: 'job rejected: queue "nosuch" does not exist', hint: 'list the groups with qhost' } };
      if (req.url === '/api/v1/slow') return new Promise(() => {});
      return { status: 500, body: 'not json' };
    },
    { socketPath },
  );
  t.teardown(api.close);
  const client = new ApiClient(locateMaster({ QFARM_HOME: home }));
  t.same(await client.get('/hosts', 'hostsResponse'), hosts);
  t.equal(api.seen[0]!.authorization, undefined, 'the master knows the caller from the socket: no token is sent');
  t.same(await client.get('/hosts?state=é', 'hostsResponse'), hosts, 'a chunked answer is decoded, the target is URL-encoded');
  const body = { name: 'ü'.repeat(70_000) };
  t.match(await client.post('/jobs', body, 'submitResponse').catch((e: unknown) => e), { status: 400, error: 'job rejected: queue "nosuch" does not exist', hint: 'list the groups with qhost' });
  t.same(api.seen[2]!.body, body, 'a large UTF-8 body arrives whole');
  t.match(await client.get('/teapot', 'healthResponse').catch((e: unknown) => e), { status: 500, message: /HTTP 500/ });
  const slow = await client.get('/slow', 'healthResponse', { timeoutMs: 200 }).catch((e: unknown) => e);
  t.type(slow, MasterUnreachableError);
  t.match(slow, { message: `error: unable to contact qfarm master at ${socketPath}: no answer within 0.2 s. Is it running? Start it with 'qfarm up' or 'qfarm master'` });
  await api.close();
  // A master that died leaves its socket file behind.
  const stale = net.createServer().listen(socketPath);
  await once(stale, 'listening');
  await new Promise((resolve) => stale.close(resolve));
  await writeFile(socketPath, '');
  const refused = await client.get('/hosts', 'hostsResponse').catch((e: unknown) => e);
  t.type(refused, MasterUnreachableError);
  t.match(refused, { message: new RegExp(`unable to contact qfarm master at ${socketPath}: connection refused`), exitCode: 1 });
});

t.test('an answer on the socket that is not whole HTTP is an unreachable master, said so', async (t) => {
  const home = await mkdtemp(path.join(os.tmpdir(), 'qfarm-cli-'));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  const socketPath = path.join(home, 'api.sock');
  const answers = ['', 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n', 'HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n{"hosts":[]}', 'SSH-2.0-OpenSSH\r\n\r\n'];
  const server = net.createServer((socket) => {
    socket.once('data', () => socket.end(answers.shift()));
  });
  server.listen(socketPath);
  await once(server, 'listening');
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const client = new ApiClient({ url: 'http://localhost', token: '', socketPath });
  const reasons = [
    'the master closed the connection without answering',
    'the answer ended inside its headers',
    'the answer ended after 12 of its 50 bytes',
    'not an HTTP/1.1 answer: "SSH-2.0-OpenSSH"',
  ];
  for (const reason of reasons) {
    const error = await client.get('/hosts', 'hostsResponse').catch((e: unknown) => e);
    t.type(error, MasterUnreachableError);
    t.equal((error as Error).message, `error: unable to contact qfarm master at ${socketPath}: connection lost while reading the answer (${reason}). Is it running? Start it with 'qfarm up' or 'qfarm master'`);
  }
});
