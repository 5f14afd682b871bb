import t from 'tap';
import type { HostsResponse } from '../../protocol/api.js';
import { TestFarm } from '../helpers/farm.js';
import { ATTACKER, ensureUser } from '../helpers/unix-users.js';

/** Hosts whose machine is gone leave qhost and qstat -f; `qfarm host list --all` and `host remove` (issue 13). */

t.test('a released local machine leaves qhost; host list --all shows it gone; host remove forgets it', async (t) => {
  process.env['QFARM_AUTOSCALE_DEBOUNCE_MS'] = '100';
  process.env['QFARM_AUTOSCALE_INTERVAL_MS'] = '500';
  const farm = await TestFarm.start(t, { agents: 1 });
  const qfarm = (...args: string[]) => farm.run('qfarm', args);
  const create = await qfarm('group', 'create', 'loc', '--provider', 'local', '--min', '1', '--max', '1', '--slots', '1', '--autoscale', '--idle-seconds', '1', '--scale-in-cooldown', '0', '--scale-out-cooldown', '0');
  t.equal(create.code, 0, create.stderr);
  const hosts = async (all = false): Promise<HostsResponse['hosts']> => ((await farm.api('GET', `/hosts${all ? '?all=1' : ''}`)) as HostsResponse).hosts;
  await farm.waitFor(async () => (await hosts()).some((h) => h.hostname === 'loc-1' && h.state === 'online'), 60_000, 'loc-1 online');
  const job = await farm.submit(['-q', 'loc', '-o', '/dev/null', '-e', '/dev/null', '-b', 'y', 'true']);
  await farm.waitForJob(job);

  const resize = await qfarm('group', 'resize', 'loc', '0', '--min', '0');
  t.equal(resize.code, 0, resize.stderr);
  await farm.waitFor(async () => !(await hosts()).some((h) => h.hostname === 'loc-1'), 60_000, 'loc-1 to leave the host list');
  t.notMatch((await farm.run('qhost', [])).stdout, /loc-1/, 'qhost no longer shows the released machine');
  t.notMatch((await farm.run('qstat', ['-f'])).stdout, /loc-1/, 'nor does qstat -f');
  t.match((await farm.run('qhost', [])).stdout, /^node1\s/m, 'a hand-started agent stays');

  const all = await qfarm('host', 'list', '--all');
  t.equal(all.code, 0, all.stderr);
  t.match(all.stdout, /^HOST\s+GROUP\s+STATE\s+SLOTS\s+LAST SEEN\n/);
  t.match(all.stdout, /^loc-1\s+loc\s+gone\s+0\/1\s+\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d\n/m);
  t.match(all.stdout, /^node1\s+default\s+online\s+0\/1\s+-\n/m);
  t.notMatch((await qfarm('host', 'list')).stdout, /loc-1/, 'without --all, as qhost');

  const mallory = ensureUser(ATTACKER);
  const refused = await farm.runAs(mallory, 'qfarm', ['host', 'remove', 'loc-1']);
  t.not(refused.code, 0, 'only root or a manager removes hosts');
  const connected = await qfarm('host', 'remove', 'node1');
  t.equal(connected.code, 1);
  t.match(connected.stderr, /host "node1" is connected\nhint: stop its agent first/);
  const removed = await qfarm('host', 'remove', 'loc-1');
  t.equal(removed.code, 0, removed.stderr);
  t.match(removed.stdout, /^removed host loc-1 \(its tasks' history stays in qacct\)\n$/);
  t.notMatch((await qfarm('host', 'list', '--all')).stdout, /loc-1/);
  t.match((await farm.run('qacct', ['-j', String(job)])).stdout, /^hostname\s+loc-1\s*$/m, 'accounting still names where the task ran');
  const unknown = await qfarm('host', 'remove', 'loc-1');
  t.match(unknown.stderr, /host "loc-1" is not known to this master\nhint: 'qfarm host list --all' lists every host/);
});
