import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, TestFarm } from '../helpers/farm.js';

/**
 * The package that images install (`npm pack` → `npm install -g`) is complete: built dist/,
 * the bin scripts, and native/ with binding.gyp, which its `install` script compiles (the API
 * socket's peer credentials and qfarm-exec). Proven by installing the tarball into a scratch
 * prefix and running a job on the agent it installed.
 */
// npm install -g compiles native/ and fetches nothing, yet takes minutes on a loaded 2-core
// machine: this file gets longer than the suite's 240 s per file (the root timeout tells tap's runner).
t.setTimeout(900_000);

t.test('npm pack, install the tarball into a scratch prefix, its agent runs a job for a master', { timeout: 900_000 }, async (t) => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-pack-'));
  t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }));
  // --ignore-scripts: dist/ is already built (npm test builds first). Letting `prepare` rebuild it
  // here would rewrite dist/ under the other test files running at the same time.
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  t.equal(pack.status, 0, pack.stderr);
  const packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = new Set(packed[0]!.files.map((f) => f.path));
  for (const needed of ['dist/agent/main.js', 'dist/master/main.js', 'dist/cli/qfarm.js', 'bin/qfarm', 'binding.gyp', 'native/qfarm-exec.c', 'native/peer-credentials.c', 'scripts/bootstrap/qfarm-agent-start.sh']) {
    t.ok(files.has(needed), `the package holds ${needed}`);
  }
  t.notOk([...files].some((f) => f.startsWith('test/') || f.startsWith('dist/fakes/')), 'and no tests or test fakes');

  const prefix = path.join(scratch, 'prefix');
  const install = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', path.join(scratch, packed[0]!.filename)], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  t.equal(install.status, 0, `npm install -g of the tarball: ${install.stderr.slice(-2000)}`);
  const installed = path.join(prefix, 'lib', 'node_modules', 'qfarm');
  t.ok(fs.existsSync(path.join(installed, 'build', 'Release', 'qfarm-exec')), 'its install script built qfarm-exec');
  t.ok(fs.existsSync(path.join(installed, 'build', 'Release', 'qfarm_native.node')), 'and the peer-credentials addon');

  const farm = await TestFarm.start(t);
  const log = fs.openSync(path.join(scratch, 'agent.log'), 'a');
  const agent = spawn(path.join(prefix, 'bin', 'qfarm'), ['agent', '--master', farm.url, '--name', 'packaged', '--slots', '1', '--state-dir', path.join(scratch, 'agent-state')], {
    env: { ...farm.env, QFARM_AGENT_TOKEN: farm.token('agent') },
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  t.teardown(() => agent.kill('SIGKILL'));
  await farm.waitFor(async () => (await farm.hostState('packaged')) === 'online', 30_000, 'the installed agent to join');
  const out = path.join(scratch, 'out.txt');
  fs.chmodSync(scratch, 0o755);
  const jobId = await farm.submit(['-o', out, '-e', '/dev/null', '-b', 'y', 'echo', 'ran on the packaged agent']);
  await farm.waitForJob(jobId);
  t.equal(fs.readFileSync(out, 'utf8'), 'ran on the packaged agent\n');
});
