import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { TestFarm } from '../helpers/farm.js';

/**
 * The lease grace after a master restart, both sides (issue 15): a restarted master gives every
 * lease a fresh grace. An agent that comes back within it reattaches its running task (same
 * attempt, no rerun); the tasks of one that never comes back are requeued once the grace has
 * passed since the restart — not before, and not never.
 */

const GRACE_MS = 4000;

function attemptsOf(farm: TestFarm, jobId: number): { id: string; state: string; hostname: string; ended_at: number | null; failed_reason: string | null }[] {
  const db = new Database(path.join(farm.home, 'store.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT id, state, hostname, ended_at, failed_reason FROM attempts WHERE job_id = ? ORDER BY leased_at').all(jobId) as never;
  } finally {
    db.close();
  }
}

async function gatedJob(farm: TestFarm, name: string): Promise<{ jobId: number; open: () => void }> {
  const gate = path.join(farm.work, `gate-${name}`);
  const jobId = await farm.submit(['-q', 'default', '-cwd', '-N', name, '-b', 'y', 'sh', '-c', 'while [ ! -e "$1" ]; do sleep 0.05; done', 'x', gate]);
  await farm.waitFor(() => attemptsOf(farm, jobId)[0]?.state === 'running', 20_000, `job ${jobId} to run`);
  return { jobId, open: () => fs.writeFileSync(gate, '') };
}

t.test('an agent that returns within the grace after a master restart reattaches its task', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, leaseGraceMs: GRACE_MS, heartbeatMs: 300 });
  const job = await gatedJob(farm, 'returns');
  const [before] = attemptsOf(farm, job.jobId);
  await farm.crashAndRestartMaster();
  await farm.waitFor(async () => (await farm.hostState('node1')) === 'online', GRACE_MS, 'node1 to reconnect within the grace');
  job.open();
  await farm.waitForJob(job.jobId);
  const after = attemptsOf(farm, job.jobId);
  t.equal(after.length, 1, 'no second attempt: the task was never requeued');
  t.match(after[0], { id: before!.id, state: 'done', hostname: 'node1' }, 'the reattached attempt is the one committed');
});

t.test('the tasks of an agent that never returns are requeued once the grace has passed since the restart', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, leaseGraceMs: GRACE_MS, heartbeatMs: 300 });
  const job = await gatedJob(farm, 'orphan');
  // The agent dies with the master; its task process outlives it and is let go at the end.
  t.teardown(job.open);
  await farm.stopProcess(farm.agents.get('node1'), 'SIGKILL');
  await farm.stopProcess(farm.master, 'SIGKILL');
  const restartedAt = Date.now();
  await farm.startMaster(Number(new URL(farm.url).port));

  // Not never: requeued within the grace plus a generous margin for a loaded machine.
  await farm.waitFor(() => attemptsOf(farm, job.jobId)[0]?.state === 'lost', GRACE_MS + 10_000, 'the orphaned attempt to be given up');
  const [lost] = attemptsOf(farm, job.jobId);
  // Not before: the store records when the master gave up on it.
  t.ok(lost!.ended_at! >= restartedAt + GRACE_MS, `given up ${lost!.ended_at! - restartedAt} ms after the restart began, not before the ${GRACE_MS} ms grace`);
  t.equal(lost!.failed_reason, `host node1 lost: no contact for ${GRACE_MS / 1000}s`);
  const qstat = await farm.run('qstat', []);
  t.match(qstat.stdout, new RegExp(`^\\s*${job.jobId} .* qw `, 'm'), 'the task is queued again');

  await farm.startAgent('node2');
  job.open();
  await farm.waitForJob(job.jobId);
  const attempts = attemptsOf(farm, job.jobId);
  t.match(attempts, [{ state: 'lost', hostname: 'node1' }, { state: 'done', hostname: 'node2' }], 'it ran again on another host, once');
});
