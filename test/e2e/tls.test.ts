import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createSelfSignedCertificate } from '../../master/tls/self-signed.js';
import { ROOT, TestFarm } from '../helpers/farm.js';

/**
 * TLS on the wire (issue 9, item 7), with the real built master, agents and CLI: a TLS farm runs
 * work over https/wss; the certificate's fingerprint is published and pinned; a client that
 * meets any other certificate refuses it and sends nothing, not even to a server that
 * completes the TLS handshake and would read whatever comes next.
 */

const AGENT_MAIN = path.join(ROOT, 'dist', 'agent', 'main.js');

function readMasterJson(farm: TestFarm): { url: string; tlsFingerprint?: string } {
  return JSON.parse(fs.readFileSync(path.join(farm.home, 'master.json'), 'utf8')) as { url: string; tlsFingerprint?: string };
}

/** A TLS server with a certificate of its own (a man in the middle): records every byte a client sends it after the handshake. */
async function impostor(t: { teardown(fn: () => unknown): void }): Promise<{ port: number; fingerprint: string; received: () => string; handshakes: () => number }> {
  const own = createSelfSignedCertificate({ commonName: 'impostor', names: ['127.0.0.1', 'localhost'] });
  let received = '';
  let handshakes = 0;
  // TLS 1.2: the server's side of the handshake completes before the client checks the
  // certificate, so the impostor is really ready to read anything the client sends next.
  const server = tls.createServer({ key: own.keyPem, cert: own.certPem, maxVersion: 'TLSv1.2' }, (socket) => {
    handshakes++;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => {
      // The client hangs up as soon as it sees the certificate: expected.
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, fingerprint: new X509Certificate(own.certPem).fingerprint256, received: () => received, handshakes: () => handshakes };
}

t.test('a TLS farm publishes its fingerprint and runs a job end to end with qsub over https', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, masterArgs: ['--tls'] });
  const info = readMasterJson(farm);
  t.match(info.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'master.json names an https URL');
  const certPem = fs.readFileSync(path.join(farm.home, 'tls', 'cert.pem'), 'utf8');
  t.equal(info.tlsFingerprint, new X509Certificate(certPem).fingerprint256, 'master.json has the fingerprint of the certificate it serves');
  t.equal(fs.statSync(path.join(farm.home, 'tls', 'key.pem')).mode & 0o777, 0o600, 'the private key is readable by root only');
  t.match(farm.masterLogText(), `TLS certificate fingerprint ${info.tlsFingerprint}`, 'the fingerprint is printed at start');

  const res = await farm.run('qsub', ['-cwd', '-b', 'y', 'echo', 'over', 'tls']);
  t.equal(res.code, 0, res.stderr);
  const jobId = Number(/^Your job (\d+)/.exec(res.stdout)![1]);
  await farm.waitForJob(jobId);
  t.equal(fs.readFileSync(path.join(farm.work, `echo.o${jobId}`), 'utf8'), 'over tls\n', 'the job ran on the agent that pinned the certificate');
  const qstat = await farm.run('qstat', []);
  t.equal(qstat.code, 0, qstat.stderr);

  t.test('the same certificate after a restart: pins stay valid', async (t) => {
    await farm.crashAndRestartMaster();
    t.equal(readMasterJson(farm).tlsFingerprint, info.tlsFingerprint);
    const again = await farm.submit(['-cwd', '-b', 'y', 'true']);
    await farm.waitForJob(again);
  });

  t.test('a CLI given another fingerprint is refused with both fingerprints named', async (t) => {
    const wrong = 'AA:'.repeat(31) + 'AA';
    // Over TCP (QFARM_MASTER): on the master's own machine the CLI would use the plain API socket.
    const res = await farm.run('qstat', [], { env: { QFARM_MASTER: farm.url, QFARM_TLS_FINGERPRINT: wrong } });
    t.equal(res.code, 1);
    t.match(res.stderr, `has fingerprint ${info.tlsFingerprint}, but ${wrong} is pinned`);
    t.match(res.stderr, 'nothing was sent');
  });

  t.test('a remote CLI with no pin meets a self-signed certificate and is told what to set', async (t) => {
    const home = fs.mkdtempSync(path.join(farm.home, 'remote-'));
    const res = await farm.run('qstat', [], { env: { QFARM_HOME: home, QFARM_MASTER: farm.url, QFARM_TOKEN: farm.token('api') } });
    t.equal(res.code, 1);
    t.match(res.stderr, /not signed by a known authority .* no fingerprint is pinned/);
    t.match(res.stderr, /QFARM_TLS_FINGERPRINT/);
    const pinned = await farm.run('qstat', [], { env: { QFARM_HOME: home, QFARM_MASTER: farm.url, QFARM_TOKEN: farm.token('api'), QFARM_TLS_FINGERPRINT: info.tlsFingerprint!.replace(/:/g, '').toLowerCase() } });
    t.equal(pinned.code, 0, `a remote CLI pinning the fingerprint (any case, no colons) works: ${pinned.stderr}`);
  });

  t.test("a remote CLI with no pin trusts a master whose certificate is in NODE_EXTRA_CA_CERTS, which bin/ keeps from Node's start-up", async (t) => {
    const home = fs.mkdtempSync(path.join(farm.home, 'remote-'));
    const caFile = path.join(home, 'extra-ca.pem');
    fs.writeFileSync(caFile, certPem);
    const env = { QFARM_HOME: home, QFARM_MASTER: farm.url, QFARM_TOKEN: farm.token('api'), NODE_EXTRA_CA_CERTS: caFile };
    const res = await farm.run('qstat', [], { env });
    t.equal(res.code, 0, `trusted through the extra CA file: ${res.stderr}`);
    fs.writeFileSync(caFile, createSelfSignedCertificate({ commonName: 'another', names: ['127.0.0.1'] }).certPem);
    const other = await farm.run('qstat', [], { env });
    t.equal(other.code, 1, 'a file with another CA does not make the certificate trusted');
    t.match(other.stderr, /not signed by a known authority/);
  });
});

t.test('listening beyond loopback turns TLS on by itself', async (t) => {
  const farm = await TestFarm.start(t, { listenHost: '0.0.0.0' });
  const info = readMasterJson(farm);
  t.match(info.url, /^https:/);
  t.match(info.tlsFingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  t.same(((await farm.api('GET', '/hosts')) as { hosts: unknown[] }).hosts, [], 'the API answers over the pinned connection');
});

t.test('the plain loopback farm stays plain http with no fingerprint', async (t) => {
  const farm = await TestFarm.start(t);
  const info = readMasterJson(farm);
  t.match(info.url, /^http:\/\/127\.0\.0\.1:/);
  t.equal(info.tlsFingerprint, undefined);
  t.notOk(fs.existsSync(path.join(farm.home, 'tls')), 'no certificate is made');
});

t.test('an impostor with another certificate never receives the agent token or the API token', async (t) => {
  const fake = await impostor(t);
  const pinned = 'AB:'.repeat(31) + 'CD';
  const agentToken = 'agent-token-that-must-not-leak-0123456789';
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-tls-impostor-'));
  t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));

  const env: NodeJS.ProcessEnv = { ...process.env, QFARM_HOME: home, QFARM_AGENT_TOKEN: agentToken };
  delete env['QFARM_MASTER'];
  const agent = spawn(process.execPath, [AGENT_MAIN, '--master', `https://127.0.0.1:${fake.port}`, '--tls-fingerprint', pinned, '--name', 'pinned', '--state-dir', path.join(home, 'agent'), '--reconnect-max-ms', '200'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  agent.stderr!.setEncoding('utf8').on('data', (c: string) => (log += c));
  const exited = new Promise((r) => agent.once('exit', r));
  t.teardown(async () => {
    if (agent.exitCode === null) agent.kill('SIGKILL');
    await exited;
  });
  const deadline = Date.now() + 20_000;
  while (fake.handshakes() < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.ok(fake.handshakes() >= 3, `the agent keeps retrying (${fake.handshakes()} handshakes)`);
  t.equal(agent.exitCode, null, 'the agent is still running, waiting for the real master');
  t.match(log, `has fingerprint ${fake.fingerprint}, but ${pinned} is pinned`, 'the log names both fingerprints');
  t.match(log, 'the agent token was not sent');

  const cli = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(path.join(ROOT, 'bin', 'qstat'), [], {
      env: { ...env, QFARM_MASTER: `https://127.0.0.1:${fake.port}`, QFARM_TOKEN: 'api-token-that-must-not-leak', QFARM_TLS_FINGERPRINT: pinned },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code) => resolve({ code, stderr }));
  });
  t.equal(cli.code, 1);
  t.match(cli.stderr, `refusing to talk to qfarm master at https://127.0.0.1:${fake.port}`);

  t.equal(fake.received(), '', 'not one byte (no request line, no upgrade, no token) reached the impostor');
});
