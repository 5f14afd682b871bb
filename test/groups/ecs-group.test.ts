import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { FakeAlibaba } from '../../fakes/alibaba/server.js';
import type { QstatResponse } from '../../protocol/api.js';
import type { GroupStatus } from '../../protocol/groups.js';
import { ROOT, TestFarm } from '../helpers/farm.js';

/**
 * The master's autoscale loop against the signature-checking ECS fake, end to end: a real master
 * (built, as a process) with an ECS spot group, real agents, real tasks.
 *
 * Fake instances do not boot, so this test plays cloud-init: for every instance the fake lists
 * it starts a real agent named after it with the `qfarm.instance-id` label and `--spot-watch`
 * (what the bootstrap does on a real VM), and kills that agent when the fake no longer lists
 * the instance. Everything else is the product: the master decides and calls
 * RunInstances/DeleteInstances, the agent's spot watch reads the reclaim notice and tells the
 * master, which requeues the task as interrupted and tops the group up.
 *
 * Each agent reads the fake's metadata service, but that of a twin instance outside the group
 * (no qfarm tags): the fake announces a reclaim in the metadata and in DescribeInstances
 * (Recycling lock) at once, and the master's own DescribeInstances would then usually see it
 * first. Interrupting the twin puts the notice in the agent's metadata only, which proves the
 * agent → master path. (The provider-side path is the autoscaler's, tested in
 * test/groups/autoscaler-ecs.test.ts.)
 */
const KEY = { id: 'qfarm-e2e-key', secret: 'qfarm-e2e-secret' };

t.test('ECS spot group: queue surge, spot reclaim requeues as interrupted, drain to min', async (t) => {
  const fake = new FakeAlibaba({ accessKeys: { [KEY.id]: KEY.secret } });
  await fake.listen();
  t.teardown(() => fake.close());
  // The master inherits these (TestFarm passes process.env on); nothing else in this process reads them.
  Object.assign(process.env, {
    ALIBABA_CLOUD_ACCESS_KEY_ID: KEY.id,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: KEY.secret,
    QFARM_ECS_ENDPOINT: fake.url,
    QFARM_AUTOSCALE_DEBOUNCE_MS: '200',
    // The safety pass (30 s in production) is what sees ECS's own Recycling lock: every 2 s here.
    QFARM_AUTOSCALE_INTERVAL_MS: '2000',
  });
  const farm = await TestFarm.start(t, { heartbeatMs: 500, leaseGraceMs: 60_000 });

  // The group's instances (tagged by the master), and each one's metadata twin (see above).
  const ours = (): string[] => [...fake.ecs.instances.values()].filter((i) => i.Tags.some((tag) => tag.Key === 'qfarm:group' && tag.Value === 'spot')).map((i) => i.InstanceId);
  const twins = new Map<string, string>();
  const twinOf = (id: string): string => {
    let twin = twins.get(id);
    if (!twin) {
      const res = fake.ecs.handle('RunInstances', { RegionId: 'cn-shanghai', InstanceType: 'ecs.c6.large', ImageId: 'm-twin' }) as { InstanceIdSets: { InstanceIdSet: string[] } };
      twin = res.InstanceIdSets.InstanceIdSet[0]!;
      twins.set(id, twin);
    }
    return twin;
  };

  // ---------------------------------------------------------------- cloud-init, played by the test
  const agents = new Map<string, ChildProcess>();
  const startAgentFor = (id: string): void => {
    const log = fs.openSync(path.join(farm.home, `agent-${id}.log`), 'a');
    const args = [path.join(ROOT, 'dist', 'agent', 'main.js'), '--master', farm.url, '--name', id, '--group', 'spot', '--slots', '1'];
    args.push('--labels', `qfarm.instance-id=${id}`, '--state-dir', path.join(farm.home, 'vm', id), '--spot-watch');
    const child = spawn(process.execPath, args, {
      env: { ...farm.env, QFARM_AGENT_TOKEN: farm.token('agent'), QFARM_METADATA_URL: fake.metadataUrl(twinOf(id)) },
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    agents.set(id, child);
  };
  const cloudInit = setInterval(() => {
    for (const id of ours()) if (!agents.has(id)) startAgentFor(id);
    for (const [id, child] of agents) if (!fake.ecs.instances.has(id) && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, 100);
  t.teardown(async () => {
    clearInterval(cloudInit);
    await Promise.all([...agents.values()].map((a) => farm.stopProcess(a, 'SIGKILL')));
  });

  const group = async (): Promise<GroupStatus> => (await farm.api('GET', '/groups/spot')) as GroupStatus;
  const running = async (jobId: number): Promise<Map<number, string>> => {
    const rows = ((await farm.api('GET', '/jobs')) as QstatResponse).rows.filter((r) => r.jobId === jobId && (r.state === 'r' || r.state === 'Rr'));
    return new Map(rows.map((r) => [Number(r.tasks), r.queue.split('@')[1]!]));
  };

  // ---------------------------------------------------------------- define the group with the CLI
  const create = await farm.run('qfarm', [
    'group', 'create', 'spot', '--provider', 'ecs', '--image', 'm-qfarm-worker', '--instance-type', 'ecs.c6.large',
    '--region', 'cn-hangzhou', '--vswitch', 'vsw-e2e', '--security-group', 'sg-e2e', '--spot', 'as-price-go',
    '--min', '0', '--max', '3', '--slots', '1', '--hourly-price', '0.05',
    '--billing-unit', '1', '--billing-minimum', '0',
    '--scale-out-cooldown', '0', '--scale-in-cooldown', '0', '--idle-seconds', '1', '--join-deadline', '60',
  ]);
  t.equal(create.code, 0, create.stderr);
  t.match(create.stdout, /created group spot \(ecs, 0\.\.3 machines\)/);
  t.equal(ours().length, 0, 'an empty queue starts nothing');

  // ---------------------------------------------------------------- surge: 3 tasks → 3 machines
  const gate = path.join(farm.work, 'gate');
  const jobId = await farm.submit(['-q', 'spot', '-t', '1-3', '-cwd', '-o', '/dev/null', '-e', '/dev/null', '-b', 'y', 'sh', '-c', 'while [ ! -e "$1" ]; do sleep 0.05; done', 'gate', gate]);
  await farm.waitFor(() => ours().length === 3, 20_000, 'the master to launch 3 ECS instances');
  // (The twins are made by this test in another region: only the master's calls count.)
  const run = fake.ecs.calls.filter((c) => c.action === 'RunInstances' && c.params.RegionId === 'cn-hangzhou');
  t.equal(run.length, 1, `one RunInstances call for the surge: ${JSON.stringify(run.map((c) => [c.params.Amount, c.params.ClientToken, c.params.RegionId]))}`);
  t.equal(run[0]!.params.Amount, '3');
  t.equal(run[0]!.params.SpotStrategy, 'SpotAsPriceGo');
  t.ok(run[0]!.params.ClientToken, 'launch is idempotent (ClientToken)');
  t.ok(fake.log.some((l) => l.kind === 'rpc' && l.what === 'RunInstances' && l.status === 200), 'the fake verified the signature and accepted the call');
  await farm.waitFor(async () => (await running(jobId)).size === 3, 40_000, 'the 3 tasks to run on the 3 new machines');
  const before = await running(jobId);
  t.same([...before.values()].sort(), ours().sort(), 'each task runs on an agent of a launched instance');

  // ---------------------------------------------------------------- spot reclaim of task 1's machine
  const victim = before.get(1)!;
  // 20 s of notice: less than the minute a task needs in hand, so the task is requeued now.
  fake.ecs.interrupt(twinOf(victim), 20_000);
  await farm.waitFor(() => ours().length === 4, 30_000, 'the master to top the group up with a 4th instance');
  await farm.waitFor(async () => {
    const r = await running(jobId);
    return r.size === 3 && r.get(1) !== victim;
  }, 40_000, 'task 1 to run again on another machine');
  const replacement = (await running(jobId)).get(1)!;
  t.not(replacement, victim);
  t.match(farm.masterLogText(), /agent reports a spot reclaim notice/, "the agent's spot watch told the master");
  t.match(fs.readFileSync(path.join(farm.home, `agent-${victim}.log`), 'utf8'), /spot reclaim announced/);
  const shown = await farm.run('qfarm', ['group', 'show', 'spot']);
  t.match(shown.stdout, new RegExp(`${victim}\\s+running \\(reclaimed\\)`), 'group show marks the reclaimed machine');
  t.match(farm.masterLogText(), /is being reclaimed \(spot\).*requeueing 1 of 1 running task\(s\) as interrupted/);

  // ---------------------------------------------------------------- reclaim seen by ECS only (Recycling lock), for task 2's machine
  const victim2 = (await running(jobId)).get(2)!;
  fake.ecs.interrupt(victim2, 20_000);
  await farm.waitFor(() => ours().length === 5, 30_000, "the master's safety pass to see the lock and top up with a 5th instance");
  await farm.waitFor(async () => {
    const r = await running(jobId);
    return r.size === 3 && r.get(2) !== victim2;
  }, 40_000, 'task 2 to run again on another machine');
  const replacement2 = (await running(jobId)).get(2)!;

  fs.writeFileSync(gate, '');
  await farm.waitForJob(jobId, 30_000);
  const acct = await farm.run('qacct', ['-j', String(jobId), '-t', '1']);
  t.equal(acct.code, 0, acct.stderr);
  t.match(acct.stdout, new RegExp(`\\nhostname\\s+${replacement}\\s*\\n`), 'task 1 is accounted on its second machine');
  t.match(acct.stdout, /\nfailed\s+0\s*\n/, 'not failed');
  t.match(acct.stdout, /\nexit_status\s+0\s*\n/);
  const db = new Database(path.join(farm.home, 'store.sqlite'), { readonly: true });
  const attempts = db.prepare('SELECT hostname, state, failed_reason FROM attempts WHERE job_id = ? AND task_id = 1 ORDER BY leased_at').all(jobId) as { hostname: string; state: string; failed_reason: string | null }[];
  db.close();
  t.same(attempts.map((a) => [a.hostname, a.state]), [[victim, 'interrupted'], [replacement, 'done']], 'history: interrupted on the reclaimed machine, done elsewhere');
  t.match(attempts[0]!.failed_reason ?? '', /interrupted: instance .* is being reclaimed/);
  const db2 = new Database(path.join(farm.home, 'store.sqlite'), { readonly: true });
  const attempts2 = db2.prepare('SELECT hostname, state FROM attempts WHERE job_id = ? AND task_id = 2 ORDER BY leased_at').all(jobId) as { hostname: string; state: string }[];
  db2.close();
  t.same(attempts2.map((a) => [a.hostname, a.state]), [[victim2, 'interrupted'], [replacement2, 'done']], 'task 2: interrupted by the provider-side notice, done elsewhere');

  // ---------------------------------------------------------------- ECS releases the reclaimed machine; the group drains to min 0
  fake.ecs.reclaim(victim);
  fake.ecs.reclaim(victim2);
  await farm.waitFor(() => ours().length === 0, 40_000, 'the idle machines to be deleted (drain to min 0)');
  const deleted = fake.ecs.calls.filter((c) => c.action === 'DeleteInstances');
  t.ok(deleted.length >= 1, 'DeleteInstances was called');
  await farm.waitFor(async () => (await group()).instances.length === 0, 10_000, 'the group to list no machine');
  const g = await group();
  t.equal(g.healthy, 0);
  t.equal(g.lastError, null);

  const perf = await farm.run('qfarm', ['perf']);
  t.equal(perf.code, 0, perf.stderr);
  t.match(perf.stdout, /ecs\.c6\.large\s+3\s+3\s/, 'perf: 3 tasks done on 3 hosts of ecs.c6.large');
});
