import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { agentSocketUrl, masterNow, masterUrlNow, parseAgentOptions, parseLabels, usage } from '../../agent/options.js';
import { HelpRequested } from '../../logging/help-requested.js';

const defaults = { hostname: 'node7', cpus: 8, homedir: '/home/q', socketPath: '/agent' };
const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseAgentOptions(argv, env, defaults);

t.test('defaults and env fallbacks', async (t) => {
  const o = parse([], { QFARM_MASTER: 'http://10.0.0.1:6444', QFARM_AGENT_TOKEN: 'tok' });
  t.equal(o.masterUrl, 'ws://10.0.0.1:6444/agent');
  t.equal(o.token, 'tok');
  t.equal(o.name, 'node7');
  t.equal(o.slots, 8);
  t.equal(o.group, 'default');
  t.same(o.labels, {});
  t.equal(o.stateDir, '/home/q/.qfarm/agent-node7');
  t.equal(parse([], { QFARM_MASTER: 'h:1', QFARM_AGENT_TOKEN: 't', QFARM_HOME: '/farm' }).stateDir, '/farm/agent-node7');
});

t.test('flags win over env', async (t) => {
  const o = parse(
    ['--master', 'https://m.example:443', '--token=flag', '--name', 'w1', '--slots', '3', '--group', 'gpu', '--labels', 'a=1,b=x y', '--state-dir', '/var/lib/qa'],
    { QFARM_MASTER: 'http://other:1', QFARM_AGENT_TOKEN: 'env' },
  );
  t.equal(o.masterUrl, 'wss://m.example/agent');
  t.equal(o.token, 'flag');
  t.equal(o.slots, 3);
  t.same(o.labels, { a: '1', b: 'x y' });
  t.equal(o.stateDir, '/var/lib/qa');
});

t.test('clear errors', async (t) => {
  const base = ['--master', 'http://m:1', '--token', 't'];
  t.throws(() => parse([], { QFARM_HOME: '/nonexistent-qfarm-home' }), { option: '--master', message: /\/nonexistent-qfarm-home\/master.json not found/ });
  t.throws(() => parse(['--master', 'http://m:1'], { QFARM_HOME: '/nonexistent-qfarm-home' }), { option: '--token', message: /\/nonexistent-qfarm-home\/agent-token/ });
  t.throws(() => parse([...base, '--slots', '0']), { option: '--slots', message: /at least 1/ });
  t.throws(() => parse([...base, '--slots', 'many']), { option: '--slots', message: /not a whole number/ });
  t.throws(() => parse([...base, '--drain-timeout-ms', '9999999999']), { option: '--drain-timeout-ms', message: /at most 2147483647/ });
  t.throws(() => parse([...base, '--labels', 'novalue']), { option: '--labels', message: /is not key=value/ });
  t.throws(() => parse([...base, '--name', 'bad name']), { option: '--name', message: /must be letters/ });
  t.throws(() => parse([...base, '--frobnicate', '1']), { option: '--frobnicate', message: /unknown option/ });
  t.throws(() => parse([...base, '--group']), { message: /needs a value/ });
  t.throws(() => parse(['--master', 'ftp://m', '--token', 't']), { message: /unsupported scheme/ });
  t.throws(() => parse(['--help']), HelpRequested);
  t.throws(() => parse(['--help']), { message: 'help requested', text: usage }, '--help carries the usage text to print');
});

t.test('socket url', async (t) => {
  t.equal(agentSocketUrl('ws://m:5/custom', '/agent'), 'ws://m:5/custom');
  t.equal(agentSocketUrl('127.0.0.1:6444', '/agent'), 'ws://127.0.0.1:6444/agent');
  t.throws(() => agentSocketUrl('http://u:p@m:1', '/agent'), { message: /credentials/ });
  t.same(parseLabels(''), {});
});

t.test('same machine: master and token found through QFARM_HOME, address re-read each time', async (t) => {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-home-'));
  t.teardown(() => fs.rm(home, { recursive: true, force: true }));
  await fs.writeFile(path.join(home, 'master.json'), JSON.stringify({ url: 'http://127.0.0.1:1111', pid: 1 }));
  await fs.writeFile(path.join(home, 'agent-token'), 'tok-from-file\n', { mode: 0o600 });
  const o = parse([], { QFARM_HOME: home });
  t.equal(o.token, 'tok-from-file');
  t.equal(o.masterFile, path.join(home, 'master.json'));
  t.equal(masterUrlNow(o), 'ws://127.0.0.1:1111/agent');
  await fs.writeFile(path.join(home, 'master.json'), JSON.stringify({ url: 'http://127.0.0.1:2222', pid: 2 }));
  t.equal(masterUrlNow(o), 'ws://127.0.0.1:2222/agent', 'a restarted master on another port is found');
  await fs.writeFile(path.join(home, 'master.json'), '{');
  t.throws(() => masterUrlNow(o), { message: /cannot read the master address from/ });
});

t.test('TLS pin: --tls-fingerprint or QFARM_TLS_FINGERPRINT, else the one master.json publishes', async (t) => {
  const fp = 'ab'.repeat(32);
  const canonical = 'AB:'.repeat(31) + 'AB';
  t.equal(parse(['--tls-fingerprint', fp], { QFARM_MASTER: 'https://10.0.0.1:6480', QFARM_AGENT_TOKEN: 't' }).tlsFingerprint, canonical);
  t.equal(parse([], { QFARM_MASTER: 'https://10.0.0.1:6480', QFARM_AGENT_TOKEN: 't', QFARM_TLS_FINGERPRINT: `sha256:${canonical}` }).tlsFingerprint, canonical);
  t.equal(parse([], { QFARM_MASTER: 'https://10.0.0.1:6480', QFARM_AGENT_TOKEN: 't' }).tlsFingerprint, undefined);
  t.throws(() => parse(['--tls-fingerprint', 'abc'], { QFARM_MASTER: 'h:1', QFARM_AGENT_TOKEN: 't' }), { message: /--tls-fingerprint: "abc" is not a SHA-256 certificate fingerprint/ });

  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-home-'));
  t.teardown(() => fs.rm(home, { recursive: true, force: true }));
  await fs.writeFile(path.join(home, 'master.json'), JSON.stringify({ url: 'https://127.0.0.1:1111', pid: 1, tlsFingerprint: canonical }));
  const local = parse([], { QFARM_HOME: home, QFARM_AGENT_TOKEN: 't' });
  t.same(masterNow(local), { url: 'wss://127.0.0.1:1111/agent', tlsFingerprint: canonical }, 'same machine: pinned from master.json');
});
