import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MasterEventBus } from '../../master/events.js';
import { openDatabase } from '../../master/store/database.js';
import { JobReader } from '../../master/store/job-reader.js';
import type { TaskRetryPolicy } from '../../master/store/task-retries.js';
import { Transitions } from '../../master/store/transitions.js';
import type { JobSubmission } from '../../protocol/job-spec.js';

/** A fixed reference clock: time moves only when a test says so. */
export const referenceClock = { t: 1_800_000_000_000, now() { return this.t; } };

/**
 * A real SQLite store in a fresh directory, removed when the test ends, with the transitions
 * over it and the ids of jobs announced finished, in order.
 */
export function openTestStore(t: { teardown(fn: () => void): void }, name: string, retries?: TaskRetryPolicy) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `qfarm-${name}-`));
  const file = path.join(dir, 'store.sqlite');
  const db = openDatabase(file);
  t.teardown(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const events = new MasterEventBus();
  const finished: number[] = [];
  events.on('job:finished', (id) => finished.push(id));
  return { db, file, reader: new JobReader(db), transitions: new Transitions(db, referenceClock, events, retries), finished };
}

/** A plain job of alice's running `true`. */
export function jobSubmission(overrides: Partial<JobSubmission> = {}): JobSubmission {
  return {
    name: 'job', submitter: { user: 'alice', uid: 1000, gid: 1000, group: 'alice', home: '/home/alice' }, submitHost: 'vm',
    command: { kind: 'binary', argv: ['true'] }, cwd: '/tmp', submitCwd: '/tmp', joinOutput: false, env: {}, hold: false,
    holdJobs: [], priority: 0, slots: 1, resources: { other: {} }, pty: false, ...overrides,
  };
}
