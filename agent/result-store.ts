import fs from 'node:fs';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import { TaskFinished, TaskOutput, TaskStarted } from '../protocol/agent-messages.js';
import { compile } from '../protocol/validate.js';
import type { KeptAttempt } from './outbox.js';

/**
 * One stored attempt: its result and the frames before it. An agent before this format stored
 * the bare `finished` frame; such a file (left by an upgrade) is still delivered.
 */
const storedAttempt = compile(
  'stored result',
  Type.Union([
    Type.Object({ started: Type.Optional(TaskStarted), output: Type.Array(TaskOutput), finished: TaskFinished }),
    TaskFinished,
  ]),
);

/**
 * Results not yet acknowledged, on disk under `<state dir>/results/`, so a result survives an
 * agent crash or restart between the end of a task and the master's ack (a ten-hour render is not
 * rerun because the agent died a second too early). One JSON file per attempt, written then
 * renamed; removed on ack. It holds the attempt's `started` and kept output too (bounded by
 * --output-buffer-bytes), so the successor also delivers the lines the master never received;
 * the master drops the ones it has by seq.
 */
export class ResultStore {
  private readonly dir: string;

  constructor(stateDir: string, private readonly log: Logger) {
    this.dir = path.join(stateDir, 'results');
  }

  private file(attemptId: string): string {
    // Attempt ids come from the master; keep them from naming paths outside the directory.
    return path.join(this.dir, `${encodeURIComponent(attemptId)}.json`);
  }

  save(kept: KeptAttempt): void {
    const attemptId = kept.finished.attemptId;
    try {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const file = this.file(attemptId);
      fs.writeFileSync(`${file}.tmp`, JSON.stringify(kept), { mode: 0o600 });
      fs.renameSync(`${file}.tmp`, file);
    } catch (err) {
      this.log.warn({ err, attemptId }, 'cannot store the result on disk; it is kept in memory only');
    }
  }

  remove(attemptId: string): void {
    try {
      fs.unlinkSync(this.file(attemptId));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err, attemptId }, 'cannot remove a stored result');
    }
  }

  /** Results a previous agent process stored and never got acknowledged. */
  load(): KeptAttempt[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir).filter((n) => n.endsWith('.json'));
    } catch {
      return [];
    }
    const out: KeptAttempt[] = [];
    for (const name of names) {
      const file = path.join(this.dir, name);
      try {
        const stored = storedAttempt.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
        out.push('type' in stored ? { started: undefined, output: [], finished: stored } : { started: stored.started, output: stored.output, finished: stored.finished });
      } catch (err) {
        this.log.warn({ file, err: (err as Error).message }, 'ignoring an unreadable stored result');
        fs.rmSync(file, { force: true });
      }
    }
    return out.sort((a, b) => a.finished.endedAt - b.finished.endedAt);
  }
}
