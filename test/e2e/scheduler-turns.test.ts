import t from 'tap';
import { FakeAgent, finishedFrame, helloFrame } from '../helpers/fake-agent.js';
import { TestFarm } from '../helpers/farm.js';
import { qacctRecords, query } from '../helpers/farm-records.js';

/**
 * A pass leases at most 256 tasks and goes on in the next turn of the event loop (issue 14), so
 * a huge array on a large farm does not hold the master's loop. What the split must not change:
 * every free slot is filled, each task is leased once, and the job completes.
 */
t.test('a 600-task array on one agent with 400 slots: every slot filled across passes, each task once, the job completes', async (t) => {
  // The fake agent sends no heartbeats: a long period keeps it connected through the test.
  const farm = await TestFarm.start(t, { agents: 0, heartbeatMs: 60_000 });
  const agent = await FakeAgent.join(farm.url, farm.token('agent'), helloFrame({ group: 'wide', slots: 400, cpus: 400 }));
  const jobId = await farm.submit(['-q', 'wide', '-t', '1-600', '-b', 'y', 'true']);

  const tasks = new Set<number>();
  const attempts: string[] = [];
  for (let i = 0; i < 400; i++) {
    const assign = await agent.next('assign');
    tasks.add(assign['taskId'] as number);
    attempts.push(assign['attemptId'] as string);
  }
  t.equal(tasks.size, 400, 'the 400 free slots got 400 different tasks, beyond the 256 of one pass');
  t.equal(agent.received.filter((f) => f['type'] === 'assign').length, 0, 'and nothing more while every slot is busy');

  for (const attemptId of attempts) agent.send(finishedFrame(attemptId, 0));
  for (let i = 0; i < 200; i++) {
    const assign = await agent.next('assign');
    tasks.add(assign['taskId'] as number);
    agent.send(finishedFrame(assign['attemptId'] as string, 0));
  }
  t.equal(tasks.size, 600, 'the remaining 200 tasks followed as slots freed, each once');
  await farm.waitForJob(jobId);
  t.equal((await qacctRecords(farm, jobId)).length, 600, 'qacct has one record per task');
  t.same(query(farm, 'SELECT COUNT(*) AS n FROM attempts WHERE job_id = ?', jobId), [{ n: 600 }], 'and the store one attempt per task');
  agent.close();
});
