import t from 'tap';
import { openDatabase } from '../../master/store/database.js';
import { JobReader } from '../../master/store/job-reader.js';
import { CommitOutcome, PermissionError } from '../../master/store/transitions.js';
import { deleteReplies } from '../../master/api/sge-replies.js';
import type { TaskFinished } from '../../protocol/agent-messages.js';
import { jobSubmission, openTestStore, referenceClock } from '../helpers/test-store.js';

const clock = referenceClock;
const setup = (t: { teardown(fn: () => void): void }) => openTestStore(t, 'transitions');
const job = jobSubmission;

const host = { agentId: 'agent-1', hostname: 'node1', group: 'default' };
const usage = { cpuSeconds: 0, utimeSeconds: 0, stimeSeconds: 0, rssBytes: 0, maxRssBytes: 0, vmemBytes: 0, maxVmemBytes: 0, ioBytes: 0 };
const result = (attemptId: string, exitStatus = 0): TaskFinished => ({
  type: 'finished', attemptId, exitStatus, signal: null, failedCode: 0, failedReason: '', startedAt: clock.t, endedAt: clock.t, usage,
});

/** The job owner of job() below, as the API would identify her. */
const alice = { user: 'alice', mayActOnAll: false };

t.test('an array job is one row until its tasks are dispatched', async (t) => {
  const { db, reader, transitions } = setup(t);
  const { jobId } = transitions.submitJob(job({ array: { first: 1, last: 100000, step: 1 } }));
  t.equal(db.prepare('SELECT COUNT(*) FROM tasks').pluck().get(), 0);
  const row = reader.job(jobId)!;
  t.equal(reader.pendingCount(row), 100000);
  const leases = transitions.leaseTasks(row, host, 3);
  t.same(leases.map((l) => l.taskId), [1, 2, 3]);
  t.equal(db.prepare('SELECT COUNT(*) FROM tasks').pluck().get(), 3);
  t.equal(reader.pendingCount(reader.job(jobId)!), 99997);
});

t.test('a result is committed once; a replay is a duplicate; a lost attempt\'s result is stale', async (t) => {
  const { reader, transitions, finished } = setup(t);
  const { jobId } = transitions.submitJob(job({ array: { first: 1, last: 2, step: 1 } }));
  const [a, b] = transitions.leaseTasks(reader.job(jobId)!, host, 2);
  t.equal(transitions.commitResult(result(a!.attemptId)), CommitOutcome.Committed);
  t.equal(transitions.commitResult(result(a!.attemptId, 9)), CommitOutcome.Duplicate, 'a replayed result changes nothing');
  t.equal(transitions.requeueAttempts([b!.attemptId], 'host lost'), 1);
  t.equal(transitions.commitResult(result(b!.attemptId)), CommitOutcome.Stale, 'the lost attempt cannot commit');
  t.same(finished, [], 'the job is not finished while task 2 is requeued');
  const [again] = transitions.leaseTasks(reader.job(jobId)!, host, 5);
  t.equal(again!.taskId, 2, 'the requeued task is leased again');
  t.equal(transitions.commitResult(result(again!.attemptId)), CommitOutcome.Committed);
  t.same(finished, [jobId]);
  t.equal(transitions.commitResult(result('no-such-attempt')), CommitOutcome.Unknown);
});

t.test('-hold_jid by name resolves to unfinished jobs of that name at submission', async (t) => {
  const { reader, transitions } = setup(t);
  const first = transitions.submitJob(job({ name: 'align' })).jobId;
  const dependant = transitions.submitJob(job({ holdJobs: ['align', '999999'] })).jobId;
  t.same(reader.waitingFor(dependant), [first], 'waits for the named job; a nonexistent id holds on nothing');
  t.same(reader.runnableJobs(10).map((j) => j.id), [first]);
  const [lease] = transitions.leaseTasks(reader.job(first)!, host, 1);
  transitions.commitResult(result(lease!.attemptId, 1));
  t.same(reader.runnableJobs(10).map((j) => j.id), [dependant], 'a finished dependency releases the job, whatever its exit status');
});

t.test('qdel: pending tasks go at once, running ones are killed and committed as failed 100', async (t) => {
  const { reader, transitions, finished, db } = setup(t);
  const { jobId } = transitions.submitJob(job({ array: { first: 1, last: 4, step: 1 } }));
  const [running] = transitions.leaseTasks(reader.job(jobId)!, host, 1);
  const one = transitions.deleteJob(jobId, alice, { first: 3, last: 3, step: 1 }, new Set([host.agentId]));
  t.same(deleteReplies(one, alice.user), [{ ok: true, text: `alice has deleted job-array task ${jobId}.3` }]);
  t.same(reader.undispatchedIds(reader.job(jobId)!, 10), [2, 4]);
  t.throws(() => transitions.deleteJob(jobId, { user: 'mallory', mayActOnAll: false }, undefined, new Set()), PermissionError, 'only the owner, root or a manager');
  t.throws(() => transitions.deleteJob(jobId, { user: 'alice2', mayActOnAll: false }, undefined, new Set()), { message: `alice2 - you do not have the necessary privileges to delete the job "${jobId}"` }, "SGE 8.1.9's words");
  const all = transitions.deleteJob(jobId, { user: 'root', mayActOnAll: true }, undefined, new Set([host.agentId]));
  t.same(all.kill, [{ attemptId: running!.attemptId, agentId: host.agentId }], 'the running task is to be killed');
  t.same(finished, [], 'not finished until the killed task reports');
  transitions.commitResult({ ...result(running!.attemptId, 137), signal: 'SIGKILL' });
  t.same(finished, [jobId]);
  const task = db.prepare('SELECT failed_code, exit_status FROM tasks WHERE job_id = ? AND task_id = 1').get(jobId);
  t.same(task, { failed_code: 100, exit_status: 137 });
});

t.test('deleting a task whose agent is gone ends it without waiting for a result', async (t) => {
  const { reader, transitions, finished } = setup(t);
  const { jobId } = transitions.submitJob(job());
  transitions.leaseTasks(reader.job(jobId)!, host, 1);
  const outcome = transitions.deleteJob(jobId, alice, undefined, new Set());
  t.same(outcome.kill, []);
  t.same(finished, [jobId]);
});

t.test('the store survives reopening: state is durable', async (t) => {
  const { reader, transitions, db, file } = setup(t);
  const { jobId } = transitions.submitJob(job({ array: { first: 1, last: 10, step: 1 } }));
  transitions.leaseTasks(reader.job(jobId)!, host, 4);
  const again = openDatabase(file);
  t.teardown(() => again.close());
  const reopened = new JobReader(again);
  t.equal(reopened.pendingCount(reopened.job(jobId)!), 6);
  t.equal(again.prepare(`SELECT COUNT(*) FROM attempts WHERE state = 'leased'`).pluck().get(), 4);
  t.ok(db.open);
});

t.test('-hold_jid_ad: task N starts only after task N of the predecessor has finished', async (t) => {
  const { reader, transitions } = setup(t);
  const tiles = transitions.submitJob(job({ name: 'tiles', array: { first: 1, last: 3, step: 1 } })).jobId;
  const stitch = transitions.submitJob(job({ name: 'stitch', array: { first: 1, last: 3, step: 1 }, holdJobsArray: ['tiles'] })).jobId;
  t.same(transitions.leaseTasks(reader.job(stitch)!, host, 3), [], 'nothing of the dependant is ready');
  const tileLeases = transitions.leaseTasks(reader.job(tiles)!, host, 3);
  transitions.commitResult(result(tileLeases[1]!.attemptId));
  const first = transitions.leaseTasks(reader.job(stitch)!, host, 3);
  t.same(first.map((l) => l.taskId), [2], 'only task 2, whose tile task finished');
  transitions.commitResult(result(tileLeases[0]!.attemptId));
  transitions.commitResult(result(tileLeases[2]!.attemptId, 1));
  const rest = transitions.leaseTasks(reader.job(stitch)!, host, 3);
  t.same(rest.map((l) => l.taskId), [1, 3], 'the others once theirs finished, whatever their exit status');
  t.equal(reader.pendingCount(reader.job(stitch)!), 0);
});

t.test('a retryable result (the node failed the task) requeues it, up to the attempt limit', async (t) => {
  const { reader, transitions, finished, db } = setup(t);
  const { jobId } = transitions.submitJob(job());
  const retryable = (attemptId: string): TaskFinished => ({ ...result(attemptId, 0), failedCode: 1, failedReason: 'upload of $OUTDIR failed', retryable: true });
  const [first] = transitions.leaseTasks(reader.job(jobId)!, host, 1);
  t.equal(transitions.commitResult(retryable(first!.attemptId)), CommitOutcome.Committed);
  t.equal(transitions.commitResult(retryable(first!.attemptId)), CommitOutcome.Duplicate, 'a replay of it changes nothing');
  t.same(finished, [], 'not finished: requeued');
  const [second] = transitions.leaseTasks(reader.job(jobId)!, host, 1);
  t.equal(transitions.commitResult(retryable(second!.attemptId)), CommitOutcome.Committed);
  const [third] = transitions.leaseTasks(reader.job(jobId)!, host, 1);
  t.ok(third, 'a third attempt');
  transitions.commitResult(retryable(third!.attemptId));
  t.same(finished, [jobId], 'the third failure is final');
  t.same(db.prepare('SELECT state, failed_code, attempts FROM tasks WHERE job_id = ?').get(jobId), { state: 'done', failed_code: 1, attempts: 3 });
});
