import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../helpers/farm.js';

/**
 * Token files readable by others are refused (master/tokens.ts, issue 15): whoever reads the
 * admin token is root on the farm, whoever reads the agent token can speak for agents. The
 * master does not start on such a file, says which file and the chmod that fixes it, and never
 * loosens or rewrites it itself.
 */

function startMaster(home: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'master', 'main.js'), '--listen', '127.0.0.1:0'], {
      env: { ...process.env, QFARM_HOME: home },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

const TOKEN = 'a-token-of-forty-eight-characters-0123456789abcd';

for (const [name, mode] of [['api-token', 0o644], ['api-token', 0o640], ['agent-token', 0o604], ['agent-token', 0o620]] as const) {
  t.test(`${name} of mode ${mode.toString(8)} stops the master with the chmod that fixes it`, async (t) => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-tokens-'));
    t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
    const file = path.join(home, name);
    fs.writeFileSync(file, `${TOKEN}\n`);
    fs.chmodSync(file, mode);
    const { code, stderr } = await startMaster(home);
    t.equal(code, 1, 'the master exits with status 1');
    t.equal(stderr, `qfarm master: token file ${file} is readable by other users (mode ${mode.toString(8)}): run chmod 600 ${file}\n`);
    t.equal(fs.statSync(file).mode & 0o777, mode, 'the file is left as it was');
    t.equal(fs.readFileSync(file, 'utf8'), `${TOKEN}\n`, 'and its token unchanged');
    t.notOk(fs.existsSync(path.join(home, 'master.json')), 'nothing was published: the master never listened');
  });
}

t.test('a token file of mode 600 is used; a missing one is created 600', async (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-tokens-'));
  t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
  fs.mkdirSync(home, { recursive: true });
  fs.writeFileSync(path.join(home, 'api-token'), `${TOKEN}\n`, { mode: 0o600 });
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'master', 'main.js'), '--listen', '127.0.0.1:0'], { env: { ...process.env, QFARM_HOME: home }, stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  const info = path.join(home, 'master.json');
  for (let i = 0; i < 300 && !fs.existsSync(info); i++) await new Promise((r) => setTimeout(r, 50));
  const { url } = JSON.parse(fs.readFileSync(info, 'utf8')) as { url: string };
  const res = await fetch(`${url}/api/v1/jobs`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(res.status, 200, 'the existing token is the admin token');
  t.equal(fs.statSync(path.join(home, 'agent-token')).mode & 0o777, 0o600, 'the agent token was created 600');
});
