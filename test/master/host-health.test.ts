import t from 'tap';
import { pino } from 'pino';
import { MasterEventBus } from '../../master/events.js';
import { HostHealth } from '../../master/host-health.js';
import { FailedCode, type TaskFinished } from '../../protocol/agent-messages.js';
import { openTestStore, referenceClock } from '../helpers/test-store.js';

/**
 * The black-hole rule's streak of failed jobs on a host: one user's failures never end it in E,
 * however many, and what it remembers of them is bounded (a hostile user can fail job after job).
 */

const failed = (jobId: number): TaskFinished => ({
  type: 'finished', attemptId: `a-${jobId}`, exitStatus: 1, signal: null, failedCode: FailedCode.None, failedReason: '', startedAt: 0, endedAt: 0,
  usage: { cpuSeconds: 0, utimeSeconds: 0, stimeSeconds: 0, rssBytes: 0, maxRssBytes: 0, vmemBytes: 0, maxVmemBytes: 0, ioBytes: 0 },
});

t.test("a user's thousands of failing jobs put no host in E; another user's failure then does, with a reason of bounded length", async (t) => {
  const { db } = openTestStore(t, 'host-health');
  const events = new MasterEventBus();
  const asked: number[] = [];
  const ownerOf = (jobId: number): string => (asked.push(jobId), jobId === 999_999 ? 'bob' : 'mallory');
  const health = new HostHealth(db, ownerOf, referenceClock, events, pino({ level: 'silent' }), { errorAfter: 3 });
  for (let jobId = 1; jobId <= 5000; jobId++) events.emit('attempt:result', 'node1', jobId, failed(jobId));
  events.emit('attempt:result', 'node1', 500, failed(500)); // again, while remembered
  t.same(health.hostsInError(), [], "5,000 failing jobs of one user: that user's problem");
  t.equal(asked.length, 5000, "a job's owner is asked once per streak, not at each of its failures");
  events.emit('attempt:result', 'node1', 999_999, failed(999_999));
  t.same(health.hostsInError(), ['node1'], "another user's job fails there too: E");
  const reason = health.errors().get('node1')!.reason;
  t.equal(reason, 'tasks of more than 1000 different jobs (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, …) of 2 users failed in a row on host node1, the last of job 999999');
});
