import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { assignment, FakeMaster, startAgent } from '../helpers/fake-master.js';
import { ATTACKER, ensureUser, requireRoot } from '../helpers/unix-users.js';

/**
 * qfarm-exec, which every task execs after the uid switch, is the agent's private copy: in a
 * fresh root-owned directory no user can write (a user who could replace it would run code in
 * every other user's tasks), executable by all, and gone when the agent stops.
 */
requireRoot();
const mallory = ensureUser(ATTACKER);

t.test('the helper copy is root-owned, read-only, usable by every user and removed at exit', async (t) => {
  const tmpRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-helper-root-'));
  await fs.chmod(tmpRoot, 0o1777);
  const master = await FakeMaster.start();
  const agent = await startAgent(master, [], { env: { TMPDIR: tmpRoot } });
  t.teardown(async () => {
    await agent.stop();
    await master.close();
    await fs.rm(tmpRoot, { recursive: true, force: true });
  });
  const link = await master.connection(0);
  await link.waitFor((f) => f.type === 'hello');
  link.welcome();

  const dirs = (await fs.readdir(tmpRoot)).filter((n) => n.startsWith('qfarm-exec.'));
  t.equal(dirs.length, 1, 'one private directory');
  t.not(dirs[0], 'qfarm-exec.', 'with an unpredictable name');
  const dir = path.join(tmpRoot, dirs[0]!);
  const dirStat = await fs.lstat(dir);
  t.ok(dirStat.isDirectory());
  t.equal(dirStat.uid, 0);
  t.equal(dirStat.mode & 0o7777, 0o755);
  const helper = await fs.lstat(path.join(dir, 'qfarm-exec'));
  t.ok(helper.isFile(), 'a regular file, not a link');
  t.equal(helper.uid, 0);
  t.equal(helper.mode & 0o7777, 0o555);

  const a = assignment({ cwd: mallory.home, user: { name: mallory.name, uid: mallory.uid, gid: mallory.gid, home: mallory.home }, stdoutPath: '/dev/null', command: { kind: 'binary', argv: ['/usr/bin/id', '-un'] } });
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.equal(fin.exitStatus, 0, link.output(a.attemptId, 'stderr'));
  t.equal(link.output(a.attemptId, 'stdout'), `${mallory.name}\n`, 'a task of an ordinary user runs through it');

  await agent.stop();
  t.same((await fs.readdir(tmpRoot)).filter((n) => n.startsWith('qfarm-exec.')), [], 'removed when the agent stops');
});
