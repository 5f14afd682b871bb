import t from 'tap';
import { listedByQstat, qstatRows } from '../../master/views/qstat-rows.js';
import { jobSubmission as job, openTestStore } from '../helpers/test-store.js';

/**
 * Plain qstat's rows from the store. The whole queue is read with a few queries (which jobs have
 * tasks on hosts, requeued tasks, predecessors) and per-job queries only where those say there
 * is something: every kind of job still gets the line SGE would print.
 */

const host = { agentId: 'agent-1', hostname: 'node1', group: 'default' };

t.test('every kind of job gets its qstat line, and qstat -j knows which jobs qstat lists', async (t) => {
  const { db, reader, transitions } = openTestStore(t, 'qstat-rows');
  const running = transitions.submitJob(job({ name: 'running', array: { first: 1, last: 3, step: 1 } })).jobId;
  const [first, second] = transitions.leaseTasks(reader.job(running)!, host, 2);
  transitions.markStarted(first!.attemptId, 42, 1);
  transitions.requeueAttempts([second!.attemptId], 'host lost');
  const plain = transitions.submitJob(job({ name: 'plain' })).jobId;
  const held = transitions.submitJob(job({ name: 'held', hold: true })).jobId;
  const waiting = transitions.submitJob(job({ name: 'waiting', holdJobs: ['plain'] })).jobId;
  const gated = transitions.submitJob(job({ name: 'gated', array: { first: 1, last: 3, step: 1 }, holdJobsArray: ['running'] })).jobId;
  const done = transitions.submitJob(job({ name: 'done' })).jobId;
  const [lease] = transitions.leaseTasks(reader.job(done)!, host, 1);
  transitions.commitResult({ type: 'finished', attemptId: lease!.attemptId, exitStatus: 0, signal: null, failedCode: 0, failedReason: '', startedAt: 1, endedAt: 2, usage: { cpuSeconds: 0, utimeSeconds: 0, stimeSeconds: 0, rssBytes: 0, maxRssBytes: 0, vmemBytes: 0, maxVmemBytes: 0, ioBytes: 0 } });

  const rows = qstatRows(db, reader, { includeFinished: false }).map((r) => [r.name, r.state, r.tasks]);
  t.same(rows, [
    ['running', 'r', '1'],
    ['running', 'qw', '2-3:1'],
    ['plain', 'qw', ''],
    ['held', 'hqw', ''],
    ['waiting', 'hqw', ''],
    ['gated', 'hqw', '1-3:1'],
  ], 'a task on a host; a requeued task before the never-dispatched; user hold, -hold_jid and -hold_jid_ad held');
  t.same(
    [running, plain, held, waiting, gated, done].map((id) => listedByQstat(db, reader, reader.job(id)!)),
    [true, true, true, true, true, false],
    'qstat -j reports only the finished job as gone',
  );
});
