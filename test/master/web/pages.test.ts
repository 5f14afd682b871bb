import t from 'tap';
import { jobSubmission, openTestStore, referenceClock } from '../../helpers/test-store.js';
import { jobListPage } from '../../../master/web/job-list.js';
import { taskPage } from '../../../master/web/task-page.js';
import { Value } from '@sinclair/typebox/value';
import { JobListPage, TaskPage } from '../../../protocol/web-api.js';

/** The dashboard's tables against a real store: an array job is one row plus a cursor. */

const clock = referenceClock;
const host = { agentId: 'agent-1', hostname: 'node1', group: 'default' };
const usage = { cpuSeconds: 2, utimeSeconds: 2, stimeSeconds: 0, rssBytes: 1024, maxRssBytes: 1024, vmemBytes: 0, maxVmemBytes: 0, ioBytes: 0 };

function setup(t: { teardown(fn: () => void): void }) {
  const { db, reader, transitions } = openTestStore(t, 'web-pages');
  return { db, reader, transitions };
}

const job = jobSubmission;

t.test('a 2,000,000,000-task array: any page of tasks is computed from the range, not by walking it', async (t) => {
  const { db, reader, transitions } = setup(t);
  // So large that a page found by walking the range (or a row per task) would not finish.
  const size = 2_000_000_000;
  const { jobId } = transitions.submitJob(job({ name: 'big', array: { first: 1, last: size, step: 1 } }));
  const [a, b] = transitions.leaseTasks(reader.job(jobId)!, host, 3);
  transitions.markStarted(a!.attemptId, 100, clock.t);
  transitions.commitResult({ type: 'finished', attemptId: a!.attemptId, exitStatus: 0, signal: null, failedCode: 0, failedReason: '', startedAt: clock.t, endedAt: clock.t + 4000, usage });
  transitions.commitResult({ type: 'finished', attemptId: b!.attemptId, exitStatus: 3, signal: null, failedCode: 0, failedReason: '', startedAt: clock.t, endedAt: clock.t + 1000, usage });

  const first = taskPage(db, reader.job(jobId)!, 0, 5);
  t.equal(first.total, size);
  t.same(first.rows.map((r) => [r.taskId, r.state]), [[1, 'done'], [2, 'failed'], [3, 'leased'], [4, 'pending'], [5, 'pending']]);
  t.equal(first.rows[0]!.host, 'node1');
  t.equal(first.rows[1]!.exitStatus, 3);
  t.same([...Value.Errors(TaskPage, first)], [], 'the page is what the dashboard checks it against (protocol/web-api.ts)');

  const last = taskPage(db, reader.job(jobId)!, size - 100, 100);
  t.same([last.rows[0]!.taskId, last.rows.at(-1)!.taskId, last.rows.length], [size - 99, size, 100]);
  t.ok(last.rows.every((r) => r.state === 'pending'));
  t.same(taskPage(db, reader.job(jobId)!, size, 100).rows, [], 'past the end: no rows');
  t.equal(db.prepare('SELECT COUNT(*) FROM tasks').pluck().get(), 3, 'no task rows were made by reading');

  const list = jobListPage(db, { offset: 0, limit: 50 });
  t.equal(list.total, 1);
  t.match(list.rows[0], { id: jobId, name: 'big', user: 'alice', total: size, done: 1, failed: 1, running: 1, pending: size - 3, state: 'running' });
  t.same([...Value.Errors(JobListPage, list)], [], 'the job list is what the dashboard checks it against');
});

t.test('the job list filters by user, group, state and name in SQL, newest first', async (t) => {
  const { db, transitions } = setup(t);
  transitions.submitJob(job({ name: 'shot010_comp' }));
  transitions.submitJob(job({ name: 'shot020_light', queue: 'render', submitter: { user: 'bob', uid: 1001, gid: 1001, group: 'bob', home: '/home/bob' } }));
  const held = transitions.submitJob(job({ name: 'Shot030', hold: true })).jobId;
  const names = (q: Partial<Parameters<typeof jobListPage>[1]>) => jobListPage(db, { offset: 0, limit: 50, ...q }).rows.map((r) => r.name);
  t.same(names({}), ['Shot030', 'shot020_light', 'shot010_comp']);
  t.same(names({ user: 'bob' }), ['shot020_light']);
  t.same(names({ group: 'render' }), ['shot020_light']);
  t.same(names({ group: 'default' }), ['Shot030', 'shot010_comp']);
  t.same(names({ search: 'SHOT0' }), ['Shot030', 'shot020_light', 'shot010_comp'], 'search ignores case');
  t.same(names({ search: 'light' }), ['shot020_light']);
  t.same(names({ state: 'finished' }), []);
  t.equal(jobListPage(db, { offset: 0, limit: 50 }).rows.find((r) => r.id === held)?.state, 'held');
  t.same(jobListPage(db, { offset: 1, limit: 1 }).rows.map((r) => r.name), ['shot020_light'], 'paged');
});
