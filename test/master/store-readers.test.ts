import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { attemptReader } from '../../master/store/attempt-reader.js';
import { openDatabase } from '../../master/store/database.js';
import { HostErrorTable, hostnamesInError } from '../../master/store/host-errors.js';
import { LIVE_ATTEMPTS, HELD_TASKS } from '../../master/store/sql-states.js';
import { JOB_LIST_COLUMNS } from '../../master/store/job-reader.js';
import { jobSubmission, openTestStore } from '../helpers/test-store.js';

/** The store's readers: one per database, and the host error table they read. */

function store(t: { teardown(fn: () => void): void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-store-readers-'));
  const db = openDatabase(path.join(dir, 'store.sqlite'));
  t.teardown(() => (db.close(), fs.rmSync(dir, { recursive: true, force: true })));
  return db;
}

t.test('a reader is made once per database, so its statements are compiled once', async (t) => {
  const a = store(t);
  const b = store(t);
  t.equal(attemptReader(a), attemptReader(a), 'the same reader for the same store');
  t.not(attemptReader(a), attemptReader(b), 'another store has its own');
});

t.test('state lists in SQL come from the state objects', async (t) => {
  t.equal(LIVE_ATTEMPTS, `'leased', 'running'`);
  t.equal(HELD_TASKS, `'leased', 'running'`);
});

t.test('hosts in error: none in a store whose master never kept them, and reading does not create the table', async (t) => {
  const db = store(t);
  t.same(hostnamesInError(db), []);
  t.equal(db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'host_errors'`).get(), undefined, 'the table was not created by a reader');
  const table = new HostErrorTable(db);
  t.equal(table.record('node1', 1000, '3 consecutive setup failures'), true, 'put in error');
  t.equal(table.record('node1', 2000, 'again'), false, 'already in error: the first reason stays');
  t.same(table.all(), [{ hostname: 'node1', since: 1000, reason: '3 consecutive setup failures' }]);
  t.same(hostnamesInError(db), ['node1'], 'a reader sees it');
  t.equal(table.clear('node1'), true, 'cleared');
  t.equal(table.clear('node1'), false, 'it was no longer in error');
  t.same(table.hostnames(), []);
});

t.test("lists of jobs read every column of jobs but the submission: a column added later is not forgotten", async (t) => {
  const db = store(t);
  const columns = (db.prepare('PRAGMA table_info(jobs)').all() as { name: string }[]).map((c) => c.name).sort();
  t.same([...JOB_LIST_COLUMNS.split(', '), 'spec'].sort(), columns);
});

t.test('a job\'s list row is its row without the submission (what a result\'s commit reads)', async (t) => {
  const { transitions, reader } = openTestStore(t, 'list-row');
  const { jobId } = transitions.submitJob(jobSubmission({ env: { BIG: 'x'.repeat(10_000) } }));
  const { spec, ...rest } = reader.job(jobId)!;
  t.ok(spec.length > 10_000);
  t.same(reader.listRow(jobId), rest);
  t.equal(reader.listRow(jobId + 1), undefined);
});

t.test('pending tasks of the farm: every waiting task of the jobs not finished or deleted (/health, /metrics)', async (t) => {
  const { transitions, reader } = openTestStore(t, 'pending-count');
  t.equal(reader.pendingTaskCount(), 0);
  transitions.submitJob(jobSubmission({ array: { first: 1, last: 9, step: 2 } }));
  transitions.submitJob(jobSubmission());
  const { jobId: deleted } = transitions.submitJob(jobSubmission({ array: { first: 1, last: 100, step: 1 } }));
  t.equal(reader.pendingTaskCount(), 5 + 1 + 100);
  transitions.deleteJob(deleted, { user: 'alice', mayActOnAll: false }, undefined, new Set());
  t.equal(reader.pendingTaskCount(), 5 + 1, 'a deleted job waits for nothing');
});
