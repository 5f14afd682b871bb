import t from 'tap';
import { jobSubmission as job, openTestStore, referenceClock } from '../helpers/test-store.js';

/**
 * The scheduler reads runnable jobs a page at a time (a deep queue costs a pass only the jobs it
 * places): pages in a row are the whole list, in the scheduler's order, with nothing skipped or
 * repeated where priorities and submission times tie.
 */
t.test('pages of runnable jobs, one after another, are the whole queue in priority and submission order', async (t) => {
  const { reader, transitions } = openTestStore(t, 'runnable-jobs');
  const start = referenceClock.t;
  t.teardown(() => void (referenceClock.t = start));
  const ids: number[] = [];
  for (let i = 0; i < 40; i++) {
    if (i % 3 === 0) referenceClock.t += 1000; // three jobs a second: ties on submission time
    ids.push(transitions.submitJob(job({ name: `j${i}`, priority: [0, 10, -5][i % 4 === 0 ? 1 : i % 7 === 0 ? 2 : 0]!, hold: i === 13 })).jobId);
  }
  const everything = reader.runnableJobs(1000, referenceClock.t);
  t.equal(everything.length, 39, 'the held job is not runnable');
  const order = (a: (typeof everything)[number], b: (typeof everything)[number]): number => b.priority - a.priority || a.submit_time - b.submit_time || a.id - b.id;
  t.same(everything.map((j) => j.id), [...everything].sort(order).map((j) => j.id), 'priority first, then submission, then id');
  const paged: number[] = [];
  let after: (typeof everything)[number] | undefined;
  for (;;) {
    const page = reader.runnableJobs(7, referenceClock.t, after);
    paged.push(...page.map((j) => j.id));
    if (page.length < 7) break;
    after = page.at(-1);
  }
  t.same(paged, everything.map((j) => j.id), 'pages of 7 make the same list');
});
