import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { openDatabase } from '../../master/store/database.js';
import { expectedSeconds } from '../../master/store/group-store.js';
import { MIGRATIONS } from '../../master/store/schema.js';
import { JobReader } from '../../master/store/job-reader.js';
import { Transitions } from '../../master/store/transitions.js';
import { MasterEventBus } from '../../master/events.js';

/** The schema version of the release before issue 12 (no jobs.rerun, no task retry counters). */
const PREVIOUS_SCHEMA_VERSION = 6;

const clock = { t: 1_800_000_000_000, now() { return this.t; } };

/** A QFARM_HOME store as the previous version left it: two jobs, one `qsub -r n`, each with a running task. */
function previousVersionStore(file: string): void {
  const db = new Database(file);
  for (const sql of MIGRATIONS.slice(0, PREVIOUS_SCHEMA_VERSION)) db.exec(sql);
  db.pragma(`user_version = ${PREVIOUS_SCHEMA_VERSION}`);
  const spec = (name: string, rerun?: boolean, startAfter?: number) =>
    JSON.stringify({ name, submitter: { user: 'alice' }, ...(rerun === undefined ? {} : { rerun }), ...(startAfter === undefined ? {} : { startAfter }) });
  const insertJob = db.prepare(
    `INSERT INTO jobs (id, name, owner, spec, submit_time, priority, slots, is_array, first_task, last_task, step, next_task) VALUES (?, ?, 'alice', ?, 0, 0, 1, 0, 1, 1, 1, 2)`,
  );
  insertJob.run(1, 'keep-going', spec('keep-going'));
  insertJob.run(2, 'once-only', spec('once-only', false));
  insertJob.run(3, 'said-yes', spec('said-yes', true));
  for (const jobId of [1, 2, 3]) {
    db.prepare(`INSERT INTO tasks (job_id, task_id, state, attempt_id, attempts) VALUES (?, 1, 'running', ?, 1)`).run(jobId, `attempt-${jobId}`);
    db.prepare(`INSERT INTO attempts (id, job_id, task_id, agent_id, hostname, group_name, state, leased_at, started_at) VALUES (?, ?, 1, 'agent-1', 'node1', 'default', 'running', 0, 0)`).run(`attempt-${jobId}`, jobId);
  }
  // A finished job whose task ran twice, 3 s and 5 s: the autoscaler's mean wall time is 4 s.
  insertJob.run(4, 'done-before', spec('done-before'));
  db.prepare(`INSERT INTO tasks (job_id, task_id, state, attempt_id, attempts) VALUES (4, 1, 'done', 'attempt-4b', 2)`).run();
  for (const [id, ms] of [['attempt-4a', 3000], ['attempt-4b', 5000]] as const) {
    db.prepare(`INSERT INTO attempts (id, job_id, task_id, agent_id, hostname, group_name, state, leased_at, started_at, ended_at) VALUES (?, 4, 1, 'agent-1', 'node1', 'default', 'done', 0, 1000, ?)`).run(id, 1000 + ms);
  }
  db.prepare(`INSERT INTO hosts (agent_id, hostname, group_name, hello, first_seen, last_seen) VALUES ('agent-1', 'node1', 'default', '{}', 0, 0)`).run();
  // qsub -a: one job may start at clock.t + 60 s, nothing sooner.
  db.prepare(`INSERT INTO jobs (id, name, owner, spec, submit_time, priority, slots, is_array, first_task, last_task, step, next_task) VALUES (5, 'later', 'alice', ?, 0, 0, 1, 0, 1, 1, 1, 1)`).run(
    spec('later', undefined, clock.t + 60_000),
  );
  db.close();
}

t.test('a store of the previous version opens with its jobs\' rerun flags kept and its tasks\' budgets fresh', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-migrations-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'store.sqlite');
  previousVersionStore(file);

  const db = openDatabase(file);
  t.teardown(() => db.close());
  t.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length, 'every migration applied');
  t.equal(db.prepare("SELECT last_ended_at FROM hosts WHERE agent_id = 'agent-1'").pluck().get(), 6000, "a host's last end is taken from the attempts stored before");
  const reader = new JobReader(db);
  t.same([1, 2, 3].map((id) => reader.job(id)!.rerun), [1, 0, 1], '-r n stays n; absent or -r y is y');
  t.same([1, 5].map((id) => reader.job(id)!.start_after), [null, clock.t + 60_000], "a job's qsub -a start is taken from its submission");
  t.equal(reader.nextStartAfter(clock.t), clock.t + 60_000, 'and the scheduler finds it');
  t.notOk(reader.runnableJobs(10, clock.t).some((j) => j.id === 5), 'not runnable before its start');
  t.ok(reader.runnableJobs(10, clock.t + 60_000).some((j) => j.id === 5), 'runnable from it on');
  t.same(db.prepare('SELECT node_failures, host_losses FROM tasks WHERE job_id <= 3 ORDER BY job_id').all(), [0, 0, 0].map(() => ({ node_failures: 0, host_losses: 0 })));

  // The host of all three is lost: the flag read from the new column decides.
  const transitions = new Transitions(db, clock, new MasterEventBus());
  transitions.requeueAttempts(['attempt-1', 'attempt-2', 'attempt-3'], 'host node1 lost');
  t.same(
    db.prepare('SELECT job_id, state, failed_code, exit_status FROM tasks WHERE job_id <= 3 ORDER BY job_id').all(),
    [
      { job_id: 1, state: 'pending', failed_code: null, exit_status: null },
      { job_id: 2, state: 'done', failed_code: 100, exit_status: 137 },
      { job_id: 3, state: 'pending', failed_code: null, exit_status: null },
    ],
    'only the -r n job\'s task is not rerun',
  );
  t.equal(expectedSeconds(db, 4), 4, "the done attempts stored before are summed into the job's mean wall time");
  t.equal(expectedSeconds(db, 2), clock.t / 1000, 'the -r n task ended by the loss counts as done, from its start to the loss');
  t.equal(expectedSeconds(db, 1), undefined, 'a requeued task is no finished attempt');
  t.equal(transitions.unwrittenLastEndOf('agent-1'), clock.t, 'then the loss that just ended three of its attempts');
  transitions.writeHostLastEnds();
  t.equal(db.prepare("SELECT last_ended_at FROM hosts WHERE agent_id = 'agent-1'").pluck().get(), clock.t, 'which its row gets at the latest when the master stops');
});
