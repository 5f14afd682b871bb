import t from 'tap';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileGroupSpec } from '../../protocol/groups.js';
import { LocalProvider } from '../../master/providers/local-provider.js';

/**
 * Real child processes. The agent entry point is a small script that records how it was
 * started, so the test checks the provider's process handling without needing a master.
 */
async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('launch spawns agents with the documented argv, terminate escalates to SIGKILL', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'qfarm-local-'));
  const main = join(dir, 'fake-agent.mjs');
  await writeFile(
    main,
    `import { writeFileSync } from 'node:fs';
     const args = process.argv.slice(2);
     const stateDir = args[args.indexOf('--state-dir') + 1];
     writeFileSync(stateDir + '/started.json', JSON.stringify({ args, token: process.env.QFARM_AGENT_TOKEN, pid: process.pid }));
     if (args.includes('stubborn')) process.on('SIGTERM', () => {});
     setInterval(() => {}, 1000);`,
  );
  const provider = new LocalProvider({ masterUrl: 'http://127.0.0.1:1', agentToken: 'secret-token', agentMain: main, stateRoot: dir, killGraceMs: 300 });
  t.teardown(() => provider.close());
  const group = compileGroupSpec({ name: 'cpu', provider: 'local', slotsPerInstance: 3, labels: { site: 'here' } });
  const launched = await provider.launch(group, 2, 'tok-1');
  t.same(launched.map((i) => i.id), ['local-cpu-1', 'local-cpu-2']);
  t.same((await provider.launch(group, 2, 'tok-1')).map((i) => i.id), ['local-cpu-1', 'local-cpu-2'], 'same token: no new processes');
  const started = join(dir, 'cpu-1', 'started.json');
  await waitFor(async () => !!(await readFile(started, 'utf8').catch(() => '')));
  const rec = JSON.parse(await readFile(started, 'utf8')) as { args: string[]; token: string };
  t.same(rec.args.slice(0, 8), ['--master', 'http://127.0.0.1:1', '--name', 'cpu-1', '--group', 'cpu', '--slots', '3']);
  t.equal(rec.args[rec.args.indexOf('--labels') + 1], 'site=here,qfarm.instance-id=local-cpu-1');
  t.equal(rec.token, 'secret-token', 'token passed in the environment');
  t.notOk(rec.args.includes('secret-token'), 'token not on the command line');
  t.equal((await provider.list(group)).length, 2);

  await provider.terminate(group, ['local-cpu-1']);
  t.same((await provider.list(group)).map((i) => i.id), ['local-cpu-2']);

  // An agent that ignores SIGTERM is killed after the grace period.
  const stubborn = compileGroupSpec({ name: 'stubborn', provider: 'local' });
  const [s] = await provider.launch(stubborn, 1, 'tok-2');
  await waitFor(async () => !!(await readFile(join(dir, 'stubborn-1', 'started.json'), 'utf8').catch(() => '')));
  const t0 = Date.now();
  await provider.terminate(stubborn, [s!.id]);
  t.ok(Date.now() - t0 >= 250, 'waited the grace period');
  t.same(await provider.list(stubborn), []);

  // A process that dies on its own disappears from list.
  await waitFor(async () => !!(await readFile(join(dir, 'cpu-2', 'started.json'), 'utf8').catch(() => '')));
  const second = JSON.parse(await readFile(join(dir, 'cpu-2', 'started.json'), 'utf8')) as { pid: number };
  process.kill(second.pid, 'SIGKILL');
  await waitFor(async () => (await provider.list(group)).length === 0);
  t.pass('a crashed agent leaves the list');
});
