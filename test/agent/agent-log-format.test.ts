import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, TestFarm } from '../helpers/farm.js';

/**
 * The agent's log, like the master's (logging/pretty-log.ts): one readable line per entry on a
 * terminal (`20:31:05 INFO  qfarm-agent: connected to the master host=node1`), JSON lines for
 * files, journald and shippers; QFARM_LOG_FORMAT=json|pretty overrides.
 */

const READABLE = /^\d\d:\d\d:\d\d (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) qfarm-agent: \S.* host=node\d/;

t.test('the agent logs JSON to a file and readable lines when asked (QFARM_LOG_FORMAT=pretty)', async (t) => {
  const farm = await TestFarm.start(t);
  await farm.startAgent('node1', { slots: 1 });
  await farm.startAgent('node2', { slots: 1, env: { QFARM_LOG_FORMAT: 'pretty' } });
  const lines = (name: string): string[] => fs.readFileSync(path.join(farm.home, `agent-${name}.log`), 'utf8').split('\n').filter((l) => l !== '');
  t.ok(lines('node1').length > 0 && lines('node1').every((l) => typeof (JSON.parse(l) as { msg?: unknown }).msg === 'string'), 'not a terminal: JSON lines');
  const pretty = lines('node2');
  t.ok(pretty.length > 0, 'node2 logged');
  for (const line of pretty) t.match(line, READABLE, line);
  t.notOk(pretty.some((l) => l.startsWith('{')), 'no JSON');
});

t.test('on a terminal the agent logs readable lines by default', async (t) => {
  const farm = await TestFarm.start(t);
  const stateDir = path.join(farm.home, 'agents', 'node3');
  const agent = [process.execPath, path.join(ROOT, 'dist', 'agent', 'main.js'), '--master', farm.url, '--name', 'node3', '--slots', '1', '--state-dir', stateDir];
  // script(1) gives the agent a pseudo-terminal as its stderr, as a person's shell would.
  const env = { ...farm.env, QFARM_AGENT_TOKEN: farm.token('agent') };
  delete env['QFARM_LOG_FORMAT'];
  const child = spawn('script', ['-qefc', agent.map((a) => `'${a}'`).join(' '), '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  t.teardown(() => void child.kill('SIGKILL'));
  await farm.waitFor(async () => (await farm.hostState('node3')) === 'online', 15_000, 'node3 to come online');
  await farm.waitFor(async () => output.includes('\n'), 5_000, 'a log line');
  const logged = output.split(/\r?\n/).filter((l) => l.trim() !== '');
  t.ok(logged.length > 0, 'the agent logged on the terminal');
  for (const line of logged) t.match(line, /^\d\d:\d\d:\d\d (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) qfarm-agent: \S.* host=node3/, line);
  const exited = new Promise((resolve) => child.on('close', resolve));
  child.kill('SIGTERM');
  await exited;
});
