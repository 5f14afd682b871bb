import t from 'tap';
import { buildAssignment } from '../../master/assignment.js';
import { AssignmentTexts } from '../../master/assignment-text.js';
import type { JobListRow } from '../../master/store/job-reader.js';
import type { JobSubmission } from '../../protocol/job-spec.js';
import { TaskAssignment } from '../../protocol/agent-messages.js';
import { Value } from '@sinclair/typebox/value';
import { jobSubmission } from '../helpers/test-store.js';

/**
 * Assignments leave the master as text made from a template per job (assignment-text.ts): the
 * text must say exactly what buildAssignment says, for every option that changes an assignment.
 */

function jobRow(id: number, overrides: Partial<JobListRow> = {}): JobListRow {
  return {
    id, name: 'job', owner: 'alice', submit_time: 0, priority: 0, queue: null, slots: 1, is_array: 0, first_task: 1, last_task: 1, step: 1,
    next_task: 1, user_hold: 0, deleted: 0, finished: 0, finish_time: null, rerun: 1, start_after: null, ...overrides,
  };
}

const tricky = 'quote " backslash \\ newline \n tab \t unicode é✓ \u2028 $TASK_ID';
const cases: { title: string; job: JobListRow; spec: JobSubmission }[] = [
  { title: 'a plain job with default output files', job: jobRow(7), spec: jobSubmission() },
  {
    title: 'an array job with -o/-e templates, -V environment and a value SGE_TASK_ID that the task overrides',
    job: jobRow(8, { is_array: 1, first_task: 1, last_task: 100, step: 3, next_task: 1 }),
    spec: jobSubmission({
      array: { first: 1, last: 100, step: 3 },
      stdoutPath: 'logs/$JOB_NAME.${JOB_ID}.$TASK_ID.out',
      stderrPath: '/abs/$USER/$HOSTNAME-$TASK_ID.err',
      env: { PATH: '/opt/bin:/usr/bin', TRICKY: tricky, [tricky]: 'a key with everything in it', SGE_TASK_ID: 'from the submitter', EMPTY: '' },
    }),
  },
  {
    title: 'a pty job with data, -notify, a umask, limits and a shell',
    job: jobRow(9, { is_array: 1, first_task: 5, last_task: 9, step: 1 }),
    spec: jobSubmission({
      array: { first: 5, last: 9, step: 1 }, pty: true, notify: true, umask: 0o027, shell: '/bin/bash', slots: 4,
      resources: { wallclockSeconds: 60, vmemBytes: 1e9, other: { gpu: '1' } },
      data: { inputs: [{ kind: 'oss', source: 'oss://bucket/in/', target: '/data/in', readOnly: true }], outputUrl: 'oss://bucket/out/' },
      command: { kind: 'script', scriptName: 'render.sh', script: '#!/bin/sh\necho "$SGE_TASK_ID"\n', args: ['--fast'] },
    }),
  },
  { title: 'an interactive job with an empty environment', job: jobRow(10), spec: jobSubmission({ interactive: true, env: {} }) },
];

for (const { title, job, spec } of cases) {
  t.test(`${title}: the text is the assignment, for each task and group`, (t) => {
    const texts = new AssignmentTexts();
    for (const group of ['default', 'render']) {
      for (const taskId of job.is_array ? [job.first_task, job.first_task + job.step, job.last_task] : [1]) {
        const lease = { attemptId: `attempt-${taskId}-${group}`, jobId: job.id, taskId };
        const parsed = JSON.parse(texts.text(job, spec, lease, group)) as unknown;
        t.same(parsed, buildAssignment(job, spec, lease, group), `task ${taskId} in ${group}`);
        t.ok(Value.Check(TaskAssignment, parsed), 'and it is a valid assignment frame');
      }
    }
    t.end();
  });
}

t.test('a job altered since (a new parsed submission) gets a new template', (t) => {
  const texts = new AssignmentTexts();
  const job = jobRow(11);
  const lease = { attemptId: 'a', jobId: 11, taskId: 1 };
  const before = jobSubmission({ env: { STAGE: 'one' } });
  t.match(JSON.parse(texts.text(job, before, lease, 'default')), { env: { STAGE: 'one' } });
  const after = jobSubmission({ env: { STAGE: 'two' } });
  t.match(JSON.parse(texts.text(job, after, lease, 'default')), { env: { STAGE: 'two' } });
  t.end();
});
