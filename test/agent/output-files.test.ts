import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { defaultOutputName, resolveOutputPath } from '../../agent/output-files.js';

t.test('SGE default names and path resolution', async (t) => {
  t.equal(defaultOutputName('job', 42, null, 'o'), 'job.o42');
  t.equal(defaultOutputName('job', 42, 7, 'e'), 'job.e42.7');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-of-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const opts = { cwd: dir, hostname: 'h1', jobName: 'n', jobId: 3, taskId: 2, kind: 'o' as const, user: 'alice' };
  t.equal(resolveOutputPath('', opts), path.join(dir, 'n.o3.2'));
  t.equal(resolveOutputPath('out/$HOSTNAME.log', opts), path.join(dir, 'out/h1.log'));
  t.equal(resolveOutputPath('/x/${HOSTNAME}-y', opts), '/x/h1-y');
  t.equal(resolveOutputPath(dir, opts), path.join(dir, 'n.o3.2'), 'existing directory gets the default name');
  t.equal(resolveOutputPath('/dev/null', opts), '/dev/null');
  t.equal(resolveOutputPath(`${dir}/`, opts), path.join(dir, 'n.o3.2'), 'an existing directory with a trailing slash too');
  t.throws(
    () => resolveOutputPath('logs/', opts),
    /cannot open output file .*\/logs\/ for user alice: the directory does not exist: create it before submitting/,
    'a trailing slash names a directory; a missing one fails the task instead of becoming a file called logs (as SGE refuses it)',
  );
});
