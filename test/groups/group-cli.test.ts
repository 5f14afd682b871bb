import t from 'tap';
import { FakeAlibaba } from '../../fakes/alibaba/server.js';
import type { HostsResponse } from '../../protocol/api.js';
import { TestFarm } from '../helpers/farm.js';

/**
 * `qfarm group|cluster|perf` as people type them, against a real master (a process) whose ECS
 * provider talks to the signature-checking fake: definitions, errors the cloud gives (quota,
 * stock, image) shown with what to do, and a local group that really starts and stops agents.
 */
const KEY = { id: 'qfarm-cli-key', secret: 'qfarm-cli-secret' };
const ECS = ['--provider', 'ecs', '--region', 'cn-hangzhou', '--vswitch', 'vsw-1', '--security-group', 'sg-1'];

t.test('qfarm group and cluster against a real master', async (t) => {
  const fake = new FakeAlibaba({ accessKeys: { [KEY.id]: KEY.secret }, ecs: { quota: 1, knownImages: ['m-good'], noStockTypes: ['ecs.sold.out'] } });
  await fake.listen();
  t.teardown(() => fake.close());
  Object.assign(process.env, {
    ALIBABA_CLOUD_ACCESS_KEY_ID: KEY.id,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: KEY.secret,
    QFARM_ECS_ENDPOINT: fake.url,
    QFARM_AUTOSCALE_DEBOUNCE_MS: '100',
    QFARM_AUTOSCALE_INTERVAL_MS: '600000',
  });
  const farm = await TestFarm.start(t);
  const qfarm = (...args: string[]) => farm.run('qfarm', args);
  /** As qhost lists them; `withGone`: also hosts whose machine is gone (`qfarm host list --all`). */
  const hosts = async (withGone = false): Promise<HostsResponse['hosts']> => ((await farm.api('GET', withGone ? '/hosts?all=1' : '/hosts')) as HostsResponse).hosts;

  t.test('the default group exists from the first start, local and not autoscaled', async (t) => {
    const list = await qfarm('group', 'list');
    t.equal(list.code, 0, list.stderr);
    t.match(list.stdout, /^GROUP\s+PROVIDER\s+INSTANCE TYPE\s+MIN\s+DESIRED\s+MAX\s+HEALTHY\s+MACHINES\s+AUTOSCALE\n/);
    t.match(list.stdout, /\ndefault\s+local\s+local\s+0\s+0\s+\d+\s+0\s+0\s+off\n/);
    const del = await qfarm('group', 'delete', 'default');
    t.equal(del.code, 1);
    t.match(del.stderr, /the default group cannot be deleted\nhint: 'qfarm group resize default 0 --max 0' empties it/);
  });

  t.test('bad definitions and names are refused with what to do', async (t) => {
    const incomplete = await qfarm('group', 'create', 'half', '--provider', 'ecs');
    t.equal(incomplete.code, 2);
    t.match(incomplete.stderr, /^qfarm group create half: provider ecs needs --region, --vswitch, --security-group, --image, --instance-type\n/);
    t.match(incomplete.stderr, /hint: .*see qfarm group create --help/);
    // The case: one network option given, the rest missing; no schema dump, no blaming versions.
    const partial = await qfarm('group', 'create', 'part', '--provider', 'ecs', '--region', 'cn-hangzhou');
    t.equal(partial.code, 2);
    t.match(partial.stderr, /provider ecs needs --vswitch, --security-group, --image, --instance-type/);
    t.notMatch(partial.stderr, /schema|version/);
    const badName = await qfarm('group', 'create', '9lives');
    t.equal(badName.code, 1);
    t.match(badName.stderr, /invalid group spec: \/name/);
    const unknown = await qfarm('group', 'show', 'nosuch');
    t.equal(unknown.code, 1);
    t.match(unknown.stderr, /group "nosuch" does not exist\nhint: known groups: default;/);
    const dup = await qfarm('group', 'create', 'default');
    t.equal(dup.code, 1);
    t.match(dup.stderr, /group "default" exists already/);
  });

  t.test('quota, stock-out and a bad image come back as the group\'s last error, with what to do', async (t) => {
    const quota = await qfarm('group', 'create', 'big', ...ECS, '--image', 'm-good', '--instance-type', 'ecs.c6.large', '--min', '2', '--max', '4');
    t.equal(quota.code, 0, quota.stderr);
    t.match(quota.stdout, /warning: quota exhausted \(ecs, group big, QuotaExceed\.ElasticQuota.*Raise the quota in the cloud console/);
    const stock = await qfarm('group', 'create', 'sold', ...ECS, '--image', 'm-good', '--instance-type', 'ecs.sold.out', '--min', '1');
    t.match(stock.stdout, /warning: no stock for this instance type in this zone .*OperationDenied\.NoStock.*Add fallback instanceTypes/);
    const image = await qfarm('group', 'create', 'img', ...ECS, '--image', 'm-missing', '--instance-type', 'ecs.c6.large', '--min', '1');
    t.match(image.stdout, /warning: the worker image is not usable .*InvalidImageId\.NotFound.*Check the group's image id/);

    const show = await qfarm('group', 'show', 'big');
    t.equal(show.code, 0, show.stderr);
    t.match(show.stdout, /\nlast error:\s+quota exhausted/);
    t.match(show.stdout, /\nlast autoscaler pass:\n\s+demand \d+: .*\n\s+launch 2: 0 healthy, 2 wanted/);
    const list = await qfarm('group', 'list');
    t.match(list.stdout, /\nbig\s+ecs\s+ecs\.c6\.large\s+2\s+2\s+4\s+0\s+0\s+on\n/);
    t.match(list.stdout, /\nimg: last error: the worker image is not usable/);
    t.equal(fake.ecs.instances.size, 0, 'nothing was launched');

    // A fallback type in stock: the launch succeeds and the error goes away.
    const fixed = await qfarm('group', 'update', 'sold', '--instance-type', 'ecs.sold.out', '--instance-type', 'ecs.c6.large');
    t.equal(fixed.code, 0, fixed.stderr);
    t.notMatch(fixed.stdout, /warning/);
    t.equal(fake.ecs.instances.size, 1, 'one instance of the fallback type');
    t.equal([...fake.ecs.instances.values()][0]!.InstanceType, 'ecs.c6.large');
    for (const name of ['big', 'img']) {
      const del = await qfarm('group', 'delete', name);
      t.equal(del.code, 0, del.stderr);
      t.equal(del.stdout, `deleted group ${name}\n`);
    }
    const soldDel = await qfarm('group', 'delete', 'sold');
    t.equal(soldDel.code, 0, soldDel.stderr);
    // The one machine is released; the row goes with it (it never had an agent, so nothing to drain).
    await farm.waitFor(() => fake.ecs.instances.size === 0, 10_000, 'the group\'s instance to be deleted');
    await farm.waitFor(async () => !(await qfarm('group', 'list')).stdout.includes('sold'), 15_000, 'the group row to go');
  });

  t.test('a local group: resize starts and stops real agents; update; delete', async (t) => {
    const create = await qfarm('group', 'create', 'loc', '--no-autoscale', '--max', '2', '--label', 'tier=gold');
    t.equal(create.code, 0, create.stderr);
    t.equal(create.stdout, 'created group loc (local, 0..2 machines)\n');
    const up = await qfarm('group', 'resize', 'loc', '1');
    t.equal(up.code, 0, up.stderr);
    t.match(up.stdout, /group loc: min 0, desired 1, max 2; 1 machine\(s\) now/);
    await farm.waitFor(async () => (await hosts()).some((h) => h.hostname === 'loc-1' && h.state === 'online'), 20_000, 'agent loc-1 to join');
    const agent = (await hosts()).find((h) => h.hostname === 'loc-1')!;
    t.equal(agent.group, 'loc');
    t.equal(agent.labels['tier'], 'gold');
    t.equal(agent.labels['qfarm.instance-id'], 'local-loc-1');

    const jobId = await farm.submit(['-q', 'loc', '-l', 'tier=gold', '-cwd', '-b', 'y', 'true']);
    await farm.waitForJob(jobId);
    const acct = await farm.run('qacct', ['-j', String(jobId)]);
    t.match(acct.stdout, /\nqname\s+loc\s*\n/);
    t.match(acct.stdout, /\nhostname\s+loc-1\s*\n/);

    const upd = await qfarm('group', 'update', 'loc', '--slots', '2', '--hourly-price', '0.5');
    t.equal(upd.code, 0, upd.stderr);
    const show = await qfarm('group', 'show', 'loc');
    t.match(show.stdout, /\nslots\/machine:\s+2\n/);
    t.match(show.stdout, /\nhourly price:\s+0\.5\n/);
    t.match(show.stdout, /\nlabels:\s+tier=gold\n/);
    t.match(show.stdout, /\n  local-loc-1\s+running\s+local\s+agent loc-1/);

    const perf = await qfarm('perf');
    t.equal(perf.code, 0, perf.stderr);
    t.match(perf.stdout, /^INSTANCE TYPE\s+HOSTS\s+TASKS\s+TASKS\/HOUR\s+TASKS\/\$\s+COST\n/);
    t.match(perf.stdout, /\nlocal\s+1\s+1\s/);

    const down = await qfarm('group', 'resize', 'loc', '0');
    t.equal(down.code, 0, down.stderr);
    // The released machine leaves qhost as soon as the master sees it gone (about a debounce after
    // the agent disconnects): its offline state is looked for where gone hosts stay listed.
    await farm.waitFor(async () => (await hosts(true)).find((h) => h.hostname === 'loc-1')?.state === 'offline', 20_000, 'agent loc-1 to stop');
    await farm.waitFor(async () => (await hosts(true)).find((h) => h.hostname === 'loc-1')?.gone === true, 20_000, 'loc-1 to be marked gone');
    t.notOk((await hosts()).some((h) => h.hostname === 'loc-1'), 'qhost no longer lists the released machine');
    const del = await qfarm('group', 'delete', 'loc');
    t.equal(del.stdout, 'deleted group loc\n');
  });

  t.test('cluster start N: default plus group1..; stop sets every size to 0; status lists them', async (t) => {
    const start = await qfarm('cluster', 'start', '3', '--provider', 'local', '--max', '1', '--no-autoscale');
    t.equal(start.code, 0, start.stderr);
    t.equal(start.stdout, 'updated group default (local, 0..1 machines)\ncreated group group1 (local, 0..1 machines)\ncreated group group2 (local, 0..1 machines)\n');
    const status = await qfarm('cluster', 'status');
    t.match(status.stdout, /\ngroup1\s+local\s+local\s+0\s+0\s+1\s+0\s+0\s+off\n/);
    t.match(status.stdout, /\ngroup2\s+local/);
    const stop = await qfarm('cluster', 'stop');
    t.equal(stop.code, 0, stop.stderr);
    t.match(stop.stdout, /^group default: scaling to 0 \(0 machine\(s\) left\)\ngroup group1: scaling to 0/);
    const after = await qfarm('group', 'show', 'group1');
    t.match(after.stdout, /\nsize:\s+min 0, desired 0 \(set 0\), max 0;/);
  });
});
