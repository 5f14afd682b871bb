import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { zeroUsage } from '../../protocol/agent-messages.js';
import { ResultStore } from '../../agent/result-store.js';

const finished = (attemptId: string, endedAt: number) =>
  ({ type: 'finished', attemptId, exitStatus: 3, signal: null, failedCode: 0, failedReason: '', startedAt: 1, endedAt, usage: zeroUsage() }) as const;

function stateDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-results-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a stored attempt comes back whole for the next agent process, oldest result first', async (t) => {
  const dir = stateDir(t);
  const kept = {
    started: { type: 'started', attemptId: 'a', pid: 7, startedAt: 1 } as const,
    output: [{ type: 'output', attemptId: 'a', stream: 'stdout', seq: 0, data: Buffer.from('line\n').toString('base64') } as const],
    finished: finished('a', 20),
  };
  new ResultStore(dir, pino({ level: 'silent' })).save(kept);
  new ResultStore(dir, pino({ level: 'silent' })).save({ started: undefined, output: [], finished: finished('b', 10) });
  const loaded = new ResultStore(dir, pino({ level: 'silent' })).load();
  t.same(loaded, [{ started: undefined, output: [], finished: finished('b', 10) }, kept]);
  t.equal(fs.statSync(path.join(dir, 'results', 'a.json')).mode & 0o777, 0o600, 'readable by the agent only');
});

t.test('a bare result stored by an agent before output was kept still loads', async (t) => {
  const dir = stateDir(t);
  fs.mkdirSync(path.join(dir, 'results'));
  fs.writeFileSync(path.join(dir, 'results', 'old.json'), JSON.stringify(finished('old', 5)));
  t.same(new ResultStore(dir, pino({ level: 'silent' })).load(), [{ started: undefined, output: [], finished: finished('old', 5) }]);
});

t.test('an unreadable stored result is removed, not delivered', async (t) => {
  const dir = stateDir(t);
  fs.mkdirSync(path.join(dir, 'results'));
  fs.writeFileSync(path.join(dir, 'results', 'bad.json'), JSON.stringify({ output: [], finished: { type: 'finished' } }));
  t.same(new ResultStore(dir, pino({ level: 'silent' })).load(), []);
  t.same(fs.readdirSync(path.join(dir, 'results')), [], 'gone');
});
