import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';
import { ATTACKER, ensureUser, requireRoot, runAsUser } from '../helpers/unix-users.js';

/**
 * Issue 9, items 1 and 8: per-user tokens for CLI users elsewhere (issued by root, written as
 * the user, revocable) and a private QFARM_HOME. Done by a real unprivileged account.
 */

const mode = (file: string): string => (fs.lstatSync(file).mode & 0o777).toString(8);

t.test('per-user tokens and private state', async (t) => {
  requireRoot();
  const mallory = ensureUser(ATTACKER);
  const farm = await TestFarm.start(t, { agents: 1, slots: 2 });
  const tokenFile = path.join(mallory.home, '.qfarm', 'api-token');
  // Over TCP, as from another machine: no QFARM_HOME socket to fall back on.
  const remote = { QFARM_HOME: path.join(mallory.home, 'no-farm-here'), QFARM_MASTER: farm.url };
  t.teardown(() => fs.rmSync(path.join(mallory.home, '.qfarm'), { recursive: true, force: true }));

  t.test('a token from qfarm token create acts as exactly that user over TCP; revoked, it is refused', async (t) => {
    fs.rmSync(path.join(mallory.home, '.qfarm'), { recursive: true, force: true });
    const created = await farm.run('qfarm', ['token', 'create', ATTACKER]);
    t.equal(created.code, 0, created.stderr);
    t.match(created.stdout, new RegExp(`^token [0-9a-f]{8} for ${ATTACKER} written to ${tokenFile}\\n$`));
    const stat = fs.statSync(tokenFile);
    t.same([stat.uid, stat.gid, mode(tokenFile), mode(path.dirname(tokenFile))], [mallory.uid, mallory.gid, '600', '700'], 'owned by the user, private');
    const listed = await farm.run('qfarm', ['token', 'list']);
    t.match(listed.stdout, new RegExp(`\\n[0-9a-f]{8}\\s+${ATTACKER}\\s+\\S+\\s+never\\n`));
    t.notMatch(listed.stdout, fs.readFileSync(tokenFile, 'utf8').trim(), 'the list never shows a token');

    const whoami = await farm.runAs(mallory, 'qfarm', ['whoami'], { env: remote });
    t.equal(whoami.stdout, `${ATTACKER} (uid ${mallory.uid}, gid ${mallory.gid} ${ATTACKER}) via user-token\n`, whoami.stderr);
    const submitted = await farm.runAs(mallory, 'qsub', ['-terse', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', 'true'], { env: remote });
    t.equal(submitted.code, 0, submitted.stderr);
    const jobId = Number.parseInt(submitted.stdout, 10);
    await farm.waitForJob(jobId);
    const acct = await farm.run('qacct', ['-j', String(jobId)]);
    t.match(acct.stdout, new RegExp(`\\nowner\\s+${ATTACKER}\\s*\\n`), 'the job is the token owner\'s');
    const rootJob = await farm.submit(['-h', '-b', 'y', 'true']);
    const qdel = await farm.runAs(mallory, 'qdel', [String(rootJob)], { env: remote });
    t.equal(qdel.stdout, `${ATTACKER} - you do not have the necessary privileges to delete the job "${rootJob}"\n`, 'a user token is not root');
    t.equal((await farm.runAs(mallory, 'qfarm', ['token', 'create', 'root'], { env: remote })).code, 1, 'a user may not issue tokens');

    t.equal((await farm.run('qfarm', ['token', 'revoke', ATTACKER])).code, 0);
    const refused = await farm.runAs(mallory, 'qstat', [], { env: remote });
    t.equal(refused.code, 1);
    t.match(refused.stderr, /the API token is not valid \(unknown or revoked\)\nhint: ask root for a new one/);
    const raw = await fetch(`${farm.url}/api/v1/jobs`, { headers: { authorization: `Bearer ${fs.readFileSync(tokenFile, 'utf8').trim()}` } });
    t.equal(raw.status, 401, 'HTTP 401');
    const none = await fetch(`${farm.url}/api/v1/jobs`);
    t.equal(none.status, 401, 'no token over TCP is refused too');
    await farm.run('qdel', [String(rootJob)]);
  });

  t.test('qfarm token create writes as the user: a planted symlink cannot make root write elsewhere', async (t) => {
    const victim = path.join(farm.home, 'root-owned-victim');
    fs.writeFileSync(victim, 'precious\n', { mode: 0o644 });
    fs.rmSync(path.join(mallory.home, '.qfarm'), { recursive: true, force: true });
    // The attacker plants ~/.qfarm/api-token -> a root-owned file.
    const plant = await runAsUser(mallory, ['sh', '-c', `mkdir -p ~/.qfarm && ln -s ${victim} ~/.qfarm/api-token`]);
    t.equal(plant.code, 0, plant.stderr);
    const created = await farm.run('qfarm', ['token', 'create', ATTACKER]);
    t.equal(created.code, 0, created.stderr);
    t.equal(fs.readFileSync(victim, 'utf8'), 'precious\n', 'the root-owned file is unchanged');
    t.ok(fs.lstatSync(tokenFile).isFile(), 'the symlink was replaced by the user\'s own file');
    t.equal(fs.statSync(tokenFile).uid, mallory.uid);

    // And ~/.qfarm itself -> a directory only root may write.
    const rootDir = path.join(farm.home, 'root-dir');
    fs.mkdirSync(rootDir, { mode: 0o755 });
    fs.rmSync(path.join(mallory.home, '.qfarm'), { recursive: true, force: true });
    t.equal((await runAsUser(mallory, ['ln', '-s', rootDir, path.join(mallory.home, '.qfarm')])).code, 0);
    const refused = await farm.run('qfarm', ['token', 'create', ATTACKER]);
    t.equal(refused.code, 1);
    t.match(refused.stderr, new RegExp(`could not write ${tokenFile} as ${ATTACKER}.*Permission denied`, 's'));
    t.same(fs.readdirSync(rootDir), [], 'nothing written into the root-owned directory');
    await farm.run('qfarm', ['token', 'revoke', ATTACKER]);
  });

  t.test('QFARM_HOME: users reach the socket and master.json, nothing else', async (t) => {
    const home = farm.home;
    t.equal(mode(home), '711');
    t.equal(mode(path.join(home, 'api.sock')), '666');
    t.equal(mode(path.join(home, 'master.json')), '644');
    for (const file of ['store.sqlite', 'store.sqlite-wal', 'store.sqlite-shm', 'api-token', 'agent-token']) t.equal(mode(path.join(home, file)), '600', file);
    t.equal(mode(path.join(home, 'logs')), '700');
    t.equal((await runAsUser(mallory, ['ls', home])).code, 2, 'the user cannot list QFARM_HOME');
    for (const file of ['store.sqlite', 'api-token']) t.not((await runAsUser(mallory, ['cat', path.join(home, file)])).code, 0, `the user cannot read ${file}`);
    t.equal((await runAsUser(mallory, ['cat', path.join(home, 'master.json')])).code, 0, 'master.json is public (no secrets in it)');
  });

  t.test('a store readable by others is named at start with the chmod that fixes it', async (t) => {
    const store = path.join(farm.home, 'store.sqlite');
    fs.chmodSync(store, 0o644);
    await farm.crashAndRestartMaster();
    const warning = `${store} is accessible by other users (mode 644): run chmod 600 ${store}`;
    await farm.waitFor(() => farm.masterLogText().includes(warning), 5000, 'the warning in the master log');
    t.pass(warning);
    fs.chmodSync(store, 0o600);
  });

  t.test('afterwards the farm works for everyone: a job of the user and one of root both succeed', async (t) => {
    const mine = await farm.runAs(mallory, 'qsub', ['-terse', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', 'true']);
    const root = await farm.submit(['-o', '/dev/null', '-e', '/dev/null', '-b', 'y', 'true']);
    const userJob = Number.parseInt(mine.stdout, 10);
    await farm.waitForJob(userJob);
    await farm.waitForJob(root);
    for (const id of [userJob, root]) t.match((await farm.run('qacct', ['-j', String(id)])).stdout, /\nexit_status\s+0\s*\n/, `job ${id} exit 0`);
  });
});
