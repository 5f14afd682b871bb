import t from 'tap';
import { TestFarm } from '../helpers/farm.js';
import { ATTACKER, ensureUser, requireRoot } from '../helpers/unix-users.js';
import { sgeProbe } from '../cli/sge-transcript.js';

/**
 * `qmod -cj` against SGE 8.1.9's recorded answers (test/fixtures/sge/ownership.txt). qfarm has no
 * job error state, so every job the caller may modify gets SGE's "not in error" answer for its
 * state; another user's job gets SGE's refusal.
 */

/** SGE's recorded stdout and exit for `qmod -cj recorded`, said about `jobId` (and by `user`). */
function expected(recorded: number, jobId: number, user?: string): { stdout: string; code: number } {
  const probe = sgeProbe('ownership.txt', `qmod -cj ${recorded}`);
  const said = (line: string) => {
    const renamed = line.replace(new RegExp(`\\b${recorded}\\b`, 'g'), String(jobId));
    return user ? renamed.replaceAll('qfarm-bob', user) : renamed;
  };
  return { stdout: probe.stdout.map((l) => `${said(l)}\n`).join(''), code: probe.exit };
}

t.test("qmod -cj answers as SGE 8.1.9 does for jobs in no error state, owners only", async (t) => {
  requireRoot();
  const mallory = ensureUser(ATTACKER);
  const farm = await TestFarm.start(t, { agents: 1, slots: 2 });
  const qmod = async (id: number | string) => {
    const res = await farm.run('qmod', ['-cj', String(id)]);
    return { stdout: res.stdout, code: res.code };
  };
  const stateOf = async (id: number): Promise<string[]> =>
    (await farm.run('qstat', [])).stdout
      .split('\n')
      .filter((l) => l.trim().startsWith(`${id} `))
      .map((l) => l.trim().split(/\s+/)[4]!);

  t.test('held jobs, single and array: "in pending/hold state", exit 0', async (t) => {
    const single = await farm.submit(['-h', '-b', 'y', 'sleep', '100']);
    t.same(await qmod(single), expected(8, single));
    const array = await farm.submit(['-h', '-t', '1-2', '-b', 'y', 'sleep', '100']);
    t.same(await qmod(array), expected(10, array));
    await farm.run('qdel', [String(single), String(array)]);
  });

  t.test('a running array and a job queued behind it', async (t) => {
    const array = await farm.submit(['-t', '1-2', '-b', 'y', 'sleep', '30']);
    await farm.waitFor(async () => (await stateOf(array)).join() === 'r,r', 15_000, `both tasks of ${array} to run`);
    const queued = await farm.submit(['-b', 'y', 'true']);
    t.same(await stateOf(queued), ['qw']);
    t.same(await qmod(array), expected(11, array), 'one line per running task, exit 1');
    t.same(await qmod(queued), expected(12, queued), 'queued: "in pending/hold state", exit 0');
    await farm.run('qdel', [String(array)]);
    await farm.waitForJob(queued);
  });

  t.test('a running single job: "not in error state", exit 1', async (t) => {
    const running = await farm.submit(['-b', 'y', 'sleep', '30']);
    await farm.waitFor(async () => (await stateOf(running)).join() === 'r', 15_000, `${running} to run`);
    t.same(await qmod(running), expected(9, running));
    await farm.run('qdel', [String(running)]);
  });

  t.test('a job that does not exist', async (t) => {
    t.same(await qmod(99999), expected(99999, 99999));
  });

  t.test("a user on their own job as root's answer; on root's job SGE's refusal", async (t) => {
    const rootJob = await farm.submit(['-h', '-b', 'y', 'true']);
    const own = await farm.runAs(mallory, 'qsub', ['-terse', '-h', '-b', 'y', 'true']);
    const ownJob = Number.parseInt(own.stdout, 10);
    const mine = await farm.runAs(mallory, 'qmod', ['-cj', String(ownJob)]);
    t.same({ stdout: mine.stdout, code: mine.code }, expected(7, ownJob));
    const refused = await farm.runAs(mallory, 'qmod', ['-cj', String(rootJob)]);
    t.same({ stdout: refused.stdout, code: refused.code }, expected(2, rootJob, ATTACKER));
    t.same(await qmod(ownJob), expected(8, ownJob), 'root may act on every job');
    await farm.run('qdel', [String(rootJob), String(ownJob)]);
  });
});
