import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';

/** Lines of `qstat` for one job: [state, tasks]. */
async function qstatStates(farm: TestFarm, jobId: number): Promise<string[]> {
  const res = await farm.run('qstat', []);
  return res.stdout
    .split('\n')
    .filter((line) => line.trim().startsWith(`${jobId} `))
    .map((line) => line.trim().split(/\s+/)[4]!);
}

t.test('holds and dependencies', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, slots: 2 });
  const order = path.join(farm.work, 'order.txt');

  t.test('-hold_jid by id and by name runs jobs in dependency order', async (t) => {
    const gate = path.join(farm.work, 'first.gate');
    const first = await farm.submit(['-cwd', '-N', 'first', '-b', 'y', 'sh', '-c', `while [ ! -e ${gate} ]; do sleep 0.05; done; echo first >> ${order}`]);
    const byId = await farm.submit(['-cwd', '-hold_jid', String(first), '-b', 'y', 'sh', '-c', `echo second >> ${order}`]);
    const byName = await farm.submit(['-cwd', '-hold_jid', 'first', '-b', 'y', 'sh', '-c', `echo third >> ${order}`]);
    t.same(await qstatStates(farm, byId), ['hqw'], 'a job waiting for a dependency shows hqw');
    fs.writeFileSync(gate, '');
    await farm.waitForJob(byId);
    await farm.waitForJob(byName);
    const lines = fs.readFileSync(order, 'utf8').trim().split('\n');
    t.equal(lines[0], 'first', 'the dependency ran first');
    t.same(lines.slice(1).sort(), ['second', 'third']);
  });

  t.test('-h holds a job until qrls; qhold holds a pending one', async (t) => {
    const held = await farm.submit(['-cwd', '-h', '-b', 'y', 'true']);
    t.same(await qstatStates(farm, held), ['hqw']);
    const detail = await farm.run('qstat', ['-j', String(held)]);
    t.match(detail.stdout, /scheduling info:\s+Job is in hold state/, 'the hold, in SGE 8.1.9\'s words');
    const rls = await farm.run('qrls', [String(held)]);
    t.equal(rls.code, 0, rls.stderr);
    await farm.waitForJob(held);

    // Block the host's two slots, then hold a queued job and check it does not start when slots free up.
    const blocker = await farm.occupySlots(2);
    const queued = await farm.submit(['-cwd', '-b', 'y', 'true']);
    t.equal((await farm.run('qhold', [String(queued)])).code, 0);
    await blocker.release();
    t.same(await qstatStates(farm, queued), ['hqw'], 'still held after slots freed');
    await farm.run('qrls', [String(queued)]);
    await farm.waitForJob(queued);
  });

  t.test('with one slot, queued jobs start by -p, then by submission order', async (t) => {
    const single = await TestFarm.start(t, { agents: 1, slots: 1 });
    const log = path.join(single.work, 'prio.txt');
    const blocker = await single.occupySlots(1);
    const low = await single.submit(['-cwd', '-p', '-10', '-b', 'y', 'sh', '-c', `echo low >> ${log}`]);
    const mid = await single.submit(['-cwd', '-p', '-5', '-b', 'y', 'sh', '-c', `echo mid >> ${log}`]);
    const high = await single.submit(['-cwd', '-b', 'y', 'sh', '-c', `echo high >> ${log}`]);
    await blocker.release();
    for (const id of [low, mid, high]) await single.waitForJob(id);
    t.same(fs.readFileSync(log, 'utf8').trim().split('\n'), ['high', 'mid', 'low']);
  });
});
