import t from 'tap';
import { jobSubmission, openTestStore, referenceClock } from '../helpers/test-store.js';
import { planReattach } from '../../master/reattach.js';
import { attemptReader } from '../../master/store/attempt-reader.js';

/** What an agent's hello does to its leases, against a real store with a fixed clock. */

const clock = referenceClock;
const node1 = { agentId: 'agent-1', hostname: 'node1', group: 'default' };
const node2 = { agentId: 'agent-2', hostname: 'node2', group: 'default' };
const usage = { cpuSeconds: 0, utimeSeconds: 0, stimeSeconds: 0, rssBytes: 0, maxRssBytes: 0, vmemBytes: 0, maxVmemBytes: 0, ioBytes: 0 };

function setup(t: { teardown(fn: () => void): void }) {
  const { db, reader, transitions } = openTestStore(t, 'reattach');
  const { jobId } = transitions.submitJob(jobSubmission({ name: 'shots', array: { first: 1, last: 10, step: 1 } }));
  /** Leases the next `n` tasks of the array to `host`; their attempt ids. */
  const lease = (host: typeof node1, n: number): string[] => transitions.leaseTasks(reader.job(jobId)!, host, n).map((l) => l.attemptId);
  return { db, transitions, lease };
}

t.test('leases the agent still runs stay; those it no longer has are requeued', async (t) => {
  const { db, lease } = setup(t);
  const [running, forgotten] = lease(node1, 2);
  const plan = planReattach(attemptReader(db), node1.agentId, [running!]);
  t.same(plan.kept.map((a) => [a.id, a.task_id, a.slots]), [[running, 1, 1]], 'the claimed lease is kept, with its task and slots');
  t.same(plan.forgotten, [forgotten], 'the unclaimed lease goes back to the queue');
  t.same(plan.cancel, [], 'nothing to cancel');
});

t.test("another agent's attempt, an unknown id and a lease the master gave up on are cancelled on the agent", async (t) => {
  const { db, transitions, lease } = setup(t);
  const [othersAttempt] = lease(node2, 1);
  const [givenUp] = lease(node1, 1);
  transitions.requeueAttempts([givenUp!], 'host node1 lost: no contact for 60s');
  const plan = planReattach(attemptReader(db), node1.agentId, [othersAttempt!, 'never-made', givenUp!]);
  t.same(plan.cancel, [othersAttempt, 'never-made', givenUp]);
  t.same(plan.kept, [], 'none of them is kept');
  t.same(planReattach(attemptReader(db), node2.agentId, [othersAttempt!]).kept.map((a) => a.id), [othersAttempt], "the other agent's lease is untouched");
});

t.test('a committed attempt the agent still lists is not cancelled: its result replay is acknowledged', async (t) => {
  const { db, transitions, lease } = setup(t);
  const [done] = lease(node1, 1);
  transitions.commitResult({ type: 'finished', attemptId: done!, exitStatus: 0, signal: null, failedCode: 0, failedReason: '', startedAt: clock.t, endedAt: clock.t, usage });
  const plan = planReattach(attemptReader(db), node1.agentId, [done!]);
  t.same(plan, { kept: [], forgotten: [], cancel: [] });
});
