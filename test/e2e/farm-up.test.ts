import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../helpers/farm.js';
import { processesNaming } from '../helpers/processes.js';

t.test('qfarm up runs a master and local agents in the foreground; Ctrl-C stops them all cleanly', async (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-up-'));
  t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
  const env = { ...process.env, QFARM_HOME: home, PATH: `${path.join(ROOT, 'bin')}:${process.env['PATH']}` };
  const up = spawn(path.join(ROOT, 'bin', 'qfarm'), ['up', '--agents', '2', '--slots', '1', '--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  up.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => up.on('exit', (code) => resolve(code)));
  t.teardown(() => up.kill('SIGKILL'));
  const deadline = Date.now() + 30_000;
  while (!/with 2 local agent\(s\); Ctrl-C stops them/.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.match(stderr, /qfarm up: master at http:\/\/127\.0\.0\.1:\d+ with 2 local agent\(s\)/);

  let online = 0;
  while (online < 2 && Date.now() < deadline) {
    const qhost = spawnSync(path.join(ROOT, 'bin', 'qhost'), [], { env, encoding: 'utf8' });
    online = qhost.stdout.split('\n').filter((l) => /^\S+-[12]\s/.test(l) && !/\s-\s+-\s*$/.test(l)).length;
    if (online < 2) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(online, 2, 'qhost lists both agents with their load');
  const sub = spawnSync(path.join(ROOT, 'bin', 'qsub'), ['-sync', 'y', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', 'true'], { env, encoding: 'utf8' });
  t.equal(sub.status, 0, sub.stderr);
  // The farm's QFARM_HOME is in every agent's argv.
  t.ok(processesNaming(home).length >= 2, 'the agents run');

  // An agent that dies is restarted, with the backoff announced.
  const agentPid = processesNaming(`agents/${os.hostname()}-1`)[0]!;
  process.kill(agentPid, 'SIGKILL');
  while (!/agent \S+-1 exited \(SIGKILL\); restarting it in 1s \(restart 1/.test(stderr) && Date.now() < deadline + 30_000) await new Promise((r) => setTimeout(r, 50));
  t.match(stderr, /qfarm up: agent \S+-1 exited \(SIGKILL\); restarting it in 1s \(restart 1, backoff doubles up to 60s\); see \S+agent-\S+-1\.log/);
  let back: number[] = [];
  while (back.length === 0 && Date.now() < deadline + 30_000) {
    back = processesNaming(`agents/${os.hostname()}-1`).filter((p) => p !== agentPid);
    if (back.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(back.length, 1, 'a new agent process took its place');
  const again = spawnSync(path.join(ROOT, 'bin', 'qsub'), ['-sync', 'y', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', 'true'], { env, encoding: 'utf8' });
  t.equal(again.status, 0, again.stderr);

  up.kill('SIGINT');
  t.equal(await exited, 0, 'exits 0 after a graceful stop');
  t.match(stderr, /stopping: the agents take no new tasks and let running ones finish/);
  t.same(processesNaming(home), [], 'no agent or master is left behind');
  t.notOk(fs.existsSync(path.join(home, 'master.json')), 'the master withdrew its address');
});

t.test('qfarm up --tls: https master, local agents pin its fingerprint, qsub works over the socket and pinned over https', async (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-up-tls-'));
  t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
  const env = { ...process.env, QFARM_HOME: home, PATH: `${path.join(ROOT, 'bin')}:${process.env['PATH']}` };
  const up = spawn(path.join(ROOT, 'bin', 'qfarm'), ['up', '--tls', '--agents', '1', '--slots', '1', '--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  up.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => up.on('exit', (code) => resolve(code)));
  t.teardown(() => up.kill('SIGKILL'));
  const deadline = Date.now() + 30_000;
  while (!/TLS certificate fingerprint/.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const info = JSON.parse(fs.readFileSync(path.join(home, 'master.json'), 'utf8')) as { url: string; tlsFingerprint: string };
  t.match(stderr, `qfarm up: master at ${info.url} with 1 local agent(s)`);
  t.match(info.url, /^https:/);
  t.match(stderr, `TLS certificate fingerprint ${info.tlsFingerprint}`, 'the fingerprint is printed');
  const sub = spawnSync(path.join(ROOT, 'bin', 'qsub'), ['-sync', 'y', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', 'true'], { env, encoding: 'utf8', timeout: 30_000 });
  t.equal(sub.status, 0, `a job ran on the pinned local agent: ${sub.stderr}`);
  const remote = { ...env, QFARM_MASTER: info.url, QFARM_TLS_FINGERPRINT: info.tlsFingerprint };
  const overTls = spawnSync(path.join(ROOT, 'bin', 'qsub'), ['-sync', 'y', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', 'true'], { env: remote, encoding: 'utf8', timeout: 30_000 });
  t.equal(overTls.status, 0, `the same over https with the pinned fingerprint: ${overTls.stderr}`);
  up.kill('SIGINT');
  t.equal(await exited, 0);
});
