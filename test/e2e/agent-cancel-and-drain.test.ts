import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';
import { query } from '../helpers/farm-records.js';
import { processRunning } from '../helpers/processes.js';

/**
 * Agent behaviour against the real master (issue 15; the fast versions against the fake master
 * stay in test/agent/): `welcome.cancel` for an attempt the master gave up on while its agent
 * was away, and an agent that drains (SIGTERM) handing back what the master still assigns it.
 */

interface AttemptRow {
  id: string;
  state: string;
  hostname: string;
  started_at: number | null;
  exit_status: number | null;
  failed_reason: string | null;
}

function attemptsOf(farm: TestFarm, jobId: number): AttemptRow[] {
  return query<AttemptRow>(farm, 'SELECT id, state, hostname, started_at, exit_status, failed_reason FROM attempts WHERE job_id = ? ORDER BY leased_at, rowid', jobId);
}

function agentLog(farm: TestFarm, name: string): string {
  return fs.readFileSync(path.join(farm.home, `agent-${name}.log`), 'utf8');
}

async function qacctLines(farm: TestFarm, jobId: number, field: string): Promise<string[]> {
  const res = await farm.run('qacct', ['-j', String(jobId)]);
  if (res.code !== 0) throw new Error(`qacct -j ${jobId} failed (${res.code}): ${res.stderr}`);
  return res.stdout.split('\n').filter((l) => l.startsWith(`${field} `)).map((l) => l.slice(field.length).trim());
}

t.test('an agent away while the master gave up on its attempt: welcome.cancel kills the task and drops its result', async (t) => {
  const farm = await TestFarm.start(t, { leaseGraceMs: 1500, heartbeatMs: 300 });
  await farm.startAgent('node1');
  await farm.startAgent('node2');
  // The first run of the task claims a marker and waits for a gate that never opens; a rerun
  // finds the marker and finishes at once.
  const gate = path.join(farm.work, 'cancel-gate-never-opened');
  const claimed = path.join(farm.work, 'claimed');
  t.teardown(() => fs.writeFileSync(gate, ''));
  const jobId = await farm.submit(['-q', 'default', '-cwd', '-b', 'y', 'sh', '-c', `if mkdir ${claimed} 2>/dev/null; then while [ ! -e ${gate} ]; do sleep 0.05; done; echo first-run-ended; fi; echo "ran on $HOSTNAME"`]);
  await farm.waitFor(() => attemptsOf(farm, jobId)[0]?.state === 'running', 20_000, 'the first attempt to run');
  const [first] = attemptsOf(farm, jobId);
  const away = first!.hostname;
  const other = away === 'node1' ? 'node2' : 'node1';
  const awayAgent = farm.agents.get(away)!;

  // The agent is frozen: no heartbeats, its task keeps waiting. The master gives up on it.
  awayAgent.kill('SIGSTOP');
  t.teardown(() => awayAgent.kill('SIGCONT'));
  await farm.waitFor(() => attemptsOf(farm, jobId)[0]?.state === 'lost', 20_000, `the master to give up on ${away}'s attempt`);
  await farm.waitForJob(jobId);
  t.ok(processRunning(gate), `the abandoned task still runs on ${away} while its agent is away`);

  awayAgent.kill('SIGCONT');
  await farm.waitFor(() => agentLog(farm, away).includes('master cancelled this attempt'), 30_000, `${away} to reconnect and be told to cancel`);
  await farm.waitFor(() => !processRunning(gate), 10_000, 'the cancelled task to be killed');
  t.equal(await farm.hostState(away), 'online', `${away} is back`);
  t.match(agentLog(farm, away), new RegExp(`"attemptId":"${first!.id}".*master cancelled this attempt; killed and forgotten`), 'the agent cancelled exactly that attempt');

  const attempts = attemptsOf(farm, jobId);
  t.match(attempts, [{ id: first!.id, state: 'lost', hostname: away, exit_status: null }, { state: 'done', hostname: other, exit_status: 0 }], 'the abandoned attempt stays lost, without a result; the rerun is the one committed');
  t.equal(attempts.length, 2);
  t.same(await qacctLines(farm, jobId, 'hostname'), [other], 'qacct: one record, from the rerun');
  const logs = await farm.run('qfarm', ['logs', String(jobId)]);
  t.equal(logs.stdout, `ran on ${other}\n`, 'no output of the cancelled attempt reached the job');
  const results = path.join(farm.home, 'agents', away, 'results');
  t.same(fs.existsSync(results) ? fs.readdirSync(results) : [], [], `${away} keeps no result for it`);
});

t.test('a draining agent hands back an assignment; it runs elsewhere, once, and the running task finishes', async (t) => {
  const farm = await TestFarm.start(t, { heartbeatMs: 300 });
  await farm.startAgent('node1', { slots: 2, args: ['--drain-timeout-ms', '60000'] });
  const gate = path.join(farm.work, 'drain-gate');
  t.teardown(() => fs.writeFileSync(gate, ''));
  const running = await farm.submit(['-q', 'default', '-cwd', '-N', 'running', '-b', 'y', 'sh', '-c', `while [ ! -e ${gate} ]; do sleep 0.05; done; echo finished on $HOSTNAME`]);
  await farm.waitFor(() => attemptsOf(farm, running)[0]?.state === 'running', 20_000, 'the long task to run on node1');

  const node1 = farm.agents.get('node1')!;
  const exited = new Promise<number | null>((resolve) => node1.once('exit', (code) => resolve(code)));
  node1.kill('SIGTERM');
  await farm.waitFor(() => agentLog(farm, 'node1').includes('draining: no new tasks'), 10_000, 'node1 to start draining');
  // node1 still shows a free slot (SIGTERM tells the master nothing): the master assigns the next
  // job there, and node1 hands it back by reconnecting with a hello that says it drains.
  const late = await farm.submit(['-q', 'default', '-cwd', '-N', 'late', '-b', 'y', 'sh', '-c', 'echo "late ran on $HOSTNAME"']);
  await farm.waitFor(() => attemptsOf(farm, late).some((a) => a.hostname === 'node1' && a.state === 'lost'), 20_000, 'node1 to hand the late job back');
  t.match(agentLog(farm, 'node1'), /assignment while draining: not started/, 'node1 refused to start it');

  await farm.startAgent('node2');
  await farm.waitForJob(late);
  fs.writeFileSync(gate, '');
  await farm.waitForJob(running);
  t.equal(await exited, 0, 'node1 exits 0 once its running task is done and delivered');

  const handedBack = attemptsOf(farm, late).filter((a) => a.hostname === 'node1');
  t.equal(handedBack.length, 1, 'handed back once: the fresh hello says node1 drains, so the master assigns it nothing more');
  for (const a of handedBack) {
    t.match(a, { state: 'lost', started_at: null, exit_status: null }, 'a hand-back never started on node1');
    t.match(a.failed_reason, 'agent node1 restarted and no longer runs them', 'the master requeued it on the fresh hello that did not list it');
  }
  t.match(attemptsOf(farm, late).filter((a) => a.hostname !== 'node1'), [{ state: 'done', hostname: 'node2', exit_status: 0 }], 'it ran once, on node2');
  t.equal((await farm.run('qfarm', ['logs', String(late)])).stdout, 'late ran on node2\n');
  t.same(await qacctLines(farm, late, 'hostname'), ['node2'], 'qacct: one record, from node2');
  t.match(attemptsOf(farm, running), [{ state: 'done', hostname: 'node1', exit_status: 0 }], 'the running task finished on node1, once');
  t.equal((await farm.run('qfarm', ['logs', String(running)])).stdout, 'finished on node1\n');
  t.same(await qacctLines(farm, running, 'exit_status'), ['0'], 'qacct: its one record');
});
