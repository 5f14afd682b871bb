import t from 'tap';
import { alterReply, deleteReplies, holdReply, rerunReply } from '../../master/api/sge-replies.js';

/** The store's outcomes become SGE 8.1.9's lines here (byte-level checks: test/e2e/sge-contract*.test.ts). */

t.test('qalter: one line per change in SGE order; the priority line names requester@master short host', async (t) => {
  const text = alterReply({ jobId: 7, changes: { name: 'x', priority: -5, holdJobs: ['3'] }, blocking: [3] }, 'alice', 'master1.example.org');
  t.equal(
    text,
    ['alice@master1 sets scheduling priority of job 7 to -5', 'modified job name of job 7', 'modified job id hold list of job 7', '   blocking jobs: 3', '   exited jobs:   NONE'].join('\n'),
  );
  t.equal(alterReply({ jobId: 7, changes: {}, blocking: [] }, 'alice', 'm'), 'modified job 7');
});

t.test('qhold: an array names each waiting task, a plain job itself', async (t) => {
  t.equal(holdReply({ jobId: 9, waitingTasks: [] }), 'modified hold of job 9');
  t.equal(holdReply({ jobId: 9, waitingTasks: [1, 2] }), 'modified hold of job-array task 9.1\nmodified hold of job-array task 9.2');
});

t.test('qdel: running array tasks are registered, then the rest of the job is deleted', async (t) => {
  const base = { jobId: 4, isArray: true, tasks: undefined, selected: [], kill: [] };
  t.same(deleteReplies({ ...base, deleted: 2, registered: [1] }, 'bob'), [
    { ok: true, text: 'bob has registered the job-array task 4.1 for deletion' },
    { ok: true, text: 'bob has deleted job 4' },
  ]);
  t.same(deleteReplies({ ...base, tasks: { first: 8, last: 9, step: 1 }, deleted: 0, registered: [] }, 'bob'), [{ ok: false, text: 'denied: job "4" has no tasks matching 8-9:1' }]);
});

t.test('the dashboard rerun says how many tasks went back to the queue', async (t) => {
  t.equal(rerunReply({ jobId: 3, deleted: false, rerun: 2 }, 'alice'), 'alice reran 2 failed tasks of job 3');
  t.equal(rerunReply({ jobId: 3, deleted: false, rerun: 0 }, 'alice'), 'job 3 has no failed tasks');
  t.equal(rerunReply({ jobId: 3, deleted: true, rerun: 0 }, 'alice'), 'job 3 was deleted: nothing to rerun');
});
