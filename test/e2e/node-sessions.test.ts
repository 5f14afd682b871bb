import t from 'tap';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, TestFarm } from '../helpers/farm.js';
import { PtyUser } from '../helpers/pty-user.js';
import { BYSTANDER, ensureUser, requireRoot, runAsUser, type UnixUser } from '../helpers/unix-users.js';

/**
 * Issue 11: qfarm exec, shell and push through the agents' connections (no ssh). Three real
 * agents, an ordinary user and root.
 */

function userEnv(farm: TestFarm): Record<string, string> {
  return { QFARM_HOME: farm.home, PATH: `${path.join(ROOT, 'bin')}:${process.env['PATH'] ?? '/usr/bin:/bin'}` };
}

/** bin/qfarm as `user`; env -u keeps tap's process-info hook out of the user's node. */
function qfarmAs(user: UnixUser, farm: TestFarm, args: string[]) {
  return runAsUser(user, ['/usr/bin/env', '-u', 'NODE_OPTIONS', path.join(ROOT, 'bin', 'qfarm'), ...args], { env: userEnv(farm), cwd: user.home });
}

t.test('exec, shell and push on three nodes', async (t) => {
  requireRoot();
  const bob = ensureUser(BYSTANDER);
  const farm = await TestFarm.start(t, { agents: 3, slots: 1 });
  const masterLog = (): string => fs.readFileSync(path.join(farm.home, 'master.log'), 'utf8');

  await t.test('exec runs as the caller on every node, prefixes lines, and fails when one node fails', async (t) => {
    const flag = path.join(bob.home, `only-one-${Date.now()}`);
    // mkdir succeeds on exactly one node: that node exits 3, the other two 0.
    const res = await qfarmAs(bob, farm, ['exec', '--', 'sh', '-c', `echo "I am $(id -un) in $PWD"; mkdir ${flag} 2>/dev/null && exit 3; exit 0`]);
    t.equal(res.code, 1, 'not every node succeeded');
    for (const host of ['node1', 'node2', 'node3']) t.match(res.stdout, new RegExp(`^${host}: I am ${bob.name} in ${bob.home}$`, 'm'), `${host} ran it as ${bob.name} in their home`);
    const rows = res.stdout.split('\n').filter((l) => /^node\d\s+\d+\s+[\d.]+s/.test(l));
    t.equal(rows.length, 3, 'a table row per host');
    t.equal(rows.filter((r) => /^node\d\s+3\s/.test(r)).length, 1, 'exactly one host exited 3');
    t.equal(rows.filter((r) => /^node\d\s+0\s/.test(r)).length, 2);
    t.match(res.stdout, /^HOST\s+EXIT\s+TIME$/m);
    const ok = await qfarmAs(bob, farm, ['exec', '--host', 'node2', '--', 'true']);
    t.equal(ok.code, 0, 'all succeeded: exit 0');
    t.match(ok.stdout, /^node2\s+0\s/m);
    t.notMatch(ok.stdout, /node1|node3/, '--host selects the node');
  });

  await t.test('shell is refused to a non-admin, and audited', async (t) => {
    const res = await qfarmAs(bob, farm, ['shell', 'node1']);
    t.equal(res.code, 1);
    t.match(res.stderr, `${bob.name} may not open a root shell on a node: only root and managers may`);
    t.match(masterLog(), `root shell refused to ${bob.name}: not an administrator`);
  });

  await t.test('root gets a root shell on one node in a pty; opening and closing are audited', async (t) => {
    const root: UnixUser = { name: 'root', uid: 0, gid: 0, home: '/root' } as UnixUser;
    const term = new PtyUser(root, [path.join(ROOT, 'bin', 'qfarm'), 'shell', 'node3'], { env: userEnv(farm) });
    t.teardown(() => term.kill('SIGKILL'));
    term.type("PS1='ROOT> '; export PS1\r");
    const at = (await term.waitFor(/ROOT> $/m)).end;
    term.type('id -u; stty size\r');
    // root's bash may add bracketed-paste escapes around the prompt.
    await term.waitFor(/[\r\n]0\r+\n24 80\r+\n[^\n]*ROOT> /, at);
    term.type('exit 4\r');
    t.equal(await term.exited, 4, "the shell's exit status is qfarm shell's");
    t.match(masterLog(), 'root shell on node3 opened by root');
    t.match(masterLog(), 'root shell on node3 of root closed');
  });

  await t.test('push copies a file to every node as the caller, verified by checksum', async (t) => {
    const dir = path.join(bob.home, `pushed-${Date.now()}`);
    fs.mkdirSync(dir);
    fs.chownSync(dir, bob.uid, bob.gid);
    const src = path.join(bob.home, 'payload.bin');
    const content = crypto.randomBytes(1_500_000); // beyond the 256 KiB input window
    fs.writeFileSync(src, content);
    fs.chownSync(src, bob.uid, bob.gid);
    const sum = crypto.createHash('sha256').update(content).digest('hex');
    const res = await qfarmAs(bob, farm, ['push', src, '--to', dir]);
    t.equal(res.code, 0, res.stderr);
    for (const host of ['node1', 'node2', 'node3']) t.match(res.stdout, `${host}: ${dir}/payload.bin ok sha256 ${sum}`);
    const landed = fs.statSync(path.join(dir, 'payload.bin'));
    t.equal(landed.uid, bob.uid, 'written by the caller, not root');
    t.same(fs.readFileSync(path.join(dir, 'payload.bin')), content);
    t.same(fs.readdirSync(dir), ['payload.bin'], 'no temporary file left');

    const refused = await qfarmAs(bob, farm, ['push', src, '--to', '/root']);
    t.equal(refused.code, 1, 'a directory the caller may not write is refused on every node');
    t.match(refused.stdout, /node1: \/root\/payload.bin FAILED \(exit 1\)/);
    t.notOk(fs.existsSync('/root/payload.bin'));
  });
});
