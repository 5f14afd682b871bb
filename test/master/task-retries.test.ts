import t from 'tap';
import { JobReader } from '../../master/store/job-reader.js';
import { DEFAULT_TASK_RETRY_POLICY, type TaskRetryPolicy } from '../../master/store/task-retries.js';
import { parseMasterOptions, MasterOptionsError } from '../../master/options.js';
import type { TaskFinished } from '../../protocol/agent-messages.js';
import { jobSubmission, openTestStore, referenceClock } from '../helpers/test-store.js';

/**
 * What a rerun costs a task (issue 12, part 3): node failures use up their own budget
 * (--node-failure-attempts); lost hosts and spot reclaims do not touch it, and host losses
 * while running have a separate cap (--max-host-losses).
 */

const clock = referenceClock;
const host = { agentId: 'agent-1', hostname: 'node1', group: 'default' };
const usage = { cpuSeconds: 0, utimeSeconds: 0, stimeSeconds: 0, rssBytes: 0, maxRssBytes: 0, vmemBytes: 0, maxVmemBytes: 0, ioBytes: 0 };

function setup(t: { teardown(fn: () => void): void }, policy: Partial<TaskRetryPolicy> = {}) {
  const { db, reader, transitions, finished } = openTestStore(t, 'task-retries', { ...DEFAULT_TASK_RETRY_POLICY, ...policy });
  const { jobId } = transitions.submitJob(jobSubmission());
  /** Leases the task and has the agent report it started: the attempt id. */
  const run = (): string => {
    const [lease] = transitions.leaseTasks(reader.job(jobId)!, host, 1);
    if (!lease) throw new Error(`task of job ${jobId} could not be leased: it is not pending`);
    transitions.markStarted(lease.attemptId, 4242, clock.t);
    return lease.attemptId;
  };
  const nodeFailure = (attemptId: string): TaskFinished => ({
    type: 'finished', attemptId, exitStatus: 0, signal: null, failedCode: 1, failedReason: 'staging of input.tar failed: connection reset', startedAt: clock.t, endedAt: clock.t, usage, retryable: true,
  });
  const task = () => db.prepare('SELECT state, failed_code, exit_status, attempts, node_failures, host_losses FROM tasks WHERE job_id = ?').get(jobId);
  return { transitions, finished, jobId, run, nodeFailure, task, db };
}

t.test('lost hosts do not use up the node-failure budget; node failures do', async (t) => {
  const { transitions, finished, jobId, run, nodeFailure, task } = setup(t, { nodeFailureAttempts: 2, maxHostLosses: 0 });
  for (let i = 0; i < 5; i++) transitions.requeueAttempts([run()], 'host node1 lost: no contact for 60s');
  t.same(task(), { state: 'pending', failed_code: null, exit_status: null, attempts: 5, node_failures: 0, host_losses: 5 }, 'five host losses, still queued');
  transitions.commitResult(nodeFailure(run()));
  t.same(finished, [], 'the first node failure reruns the task, five lost leases before it notwithstanding');
  t.match(task(), { state: 'pending', node_failures: 1 });
  transitions.commitResult(nodeFailure(run()));
  t.same(finished, [jobId], 'the second node failure of two allowed is final');
  t.match(task(), { state: 'done', failed_code: 1, attempts: 7, node_failures: 2 });
});

t.test('spot reclaims and leases lost before the task started count against neither budget', async (t) => {
  const { transitions, finished, jobId, run, task, db } = setup(t, { nodeFailureAttempts: 1, maxHostLosses: 1 });
  for (let i = 0; i < 3; i++) transitions.interruptAttempts([run()], 'spot instance reclaimed');
  const reader = new JobReader(db);
  const [leased] = transitions.leaseTasks(reader.job(jobId)!, host, 1);
  transitions.requeueAttempts([leased!.attemptId], 'host node1 lost before the task started');
  t.same(finished, []);
  t.match(task(), { state: 'pending', node_failures: 0, host_losses: 0, attempts: 4 });
});

t.test('--max-host-losses: the Nth host lost under a running task ends it as failed 100, exit 137, saying why', async (t) => {
  const { transitions, finished, jobId, run, task, db } = setup(t, { maxHostLosses: 3 });
  transitions.requeueAttempts([run()], 'host node1 lost');
  transitions.requeueAttempts([run()], 'host node1 lost');
  t.same(finished, [], 'two losses of three allowed: still queued');
  const last = run();
  transitions.requeueAttempts([last], 'host node1 lost');
  t.same(finished, [jobId]);
  t.match(task(), { state: 'done', failed_code: 100, exit_status: 137, host_losses: 3 });
  const reason = db.prepare('SELECT failed_reason FROM attempts WHERE id = ?').pluck().get(last) as string;
  t.match(reason, /host node1 lost; its host was lost 3 times while running it \(qfarm master --max-host-losses\)/);
});

t.test('--node-failure-attempts 1: the first node failure is final', async (t) => {
  const { transitions, finished, jobId, run, nodeFailure, task } = setup(t, { nodeFailureAttempts: 1 });
  transitions.commitResult(nodeFailure(run()));
  t.same(finished, [jobId]);
  t.match(task(), { state: 'done', failed_code: 1, node_failures: 1 });
});

t.test('the dashboard rerun of a failed task gives it a fresh budget', async (t) => {
  const { transitions, jobId, run, nodeFailure, task } = setup(t, { nodeFailureAttempts: 1 });
  transitions.commitResult(nodeFailure(run()));
  t.same(transitions.rerunFailedTasks(jobId, { user: 'alice', mayActOnAll: false }), { jobId, deleted: false, rerun: 1 });
  t.match(task(), { state: 'pending', node_failures: 0, host_losses: 0 });
});

t.test('the master options: flags, environment, defaults and refusals', async (t) => {
  t.match(parseMasterOptions([], {}), { nodeFailureAttempts: 3, maxHostLosses: 10 }, "defaults keep today's 3 attempts for node failures");
  t.match(parseMasterOptions(['--node-failure-attempts', '5', '--max-host-losses', '0'], {}), { nodeFailureAttempts: 5, maxHostLosses: 0 });
  t.match(parseMasterOptions([], { QFARM_NODE_FAILURE_ATTEMPTS: '2', QFARM_MAX_HOST_LOSSES: '4' }), { nodeFailureAttempts: 2, maxHostLosses: 4 });
  t.throws(() => parseMasterOptions(['--node-failure-attempts', '0'], {}), new MasterOptionsError('--node-failure-attempts must be a positive whole number, got "0"'));
  t.throws(() => parseMasterOptions(['--max-host-losses', '-1'], {}), MasterOptionsError);
});
