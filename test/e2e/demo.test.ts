import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { ROOT } from '../helpers/farm.js';

t.test('npm run demo (the README\'s main command) runs the embedded farm end to end and its result is right', async (t) => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['QFARM_HOME'];
  const res = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'scripts', 'demo.js')], { env, encoding: 'utf8', timeout: 180_000 });
  t.equal(res.status, 0, res.stderr);
  t.match(res.stdout, /Your job-array 1\.1-24:1 \("primes"\) has been submitted/);
  t.match(res.stdout, /primes up to 480000: 40005 \(correct\)/, 'the 24 tasks together count every prime once');
  t.match(res.stdout, /frames: 6\/6 done, 0 failed/, 'the Blender part rendered its animation');
  t.match(res.stderr, /qfarm up: stopping: the agents take no new tasks/, 'and the farm was stopped');
});
