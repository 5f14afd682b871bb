import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { TaskFinished } from '../protocol/agent-messages.js';
import { compile } from '../protocol/validate.js';

const finishedFrame = compile('stored finished frame', TaskFinished);

/**
 * Results not yet acknowledged, on disk under `<state dir>/results/`, so a result survives an
 * agent crash or restart between the end of a task and the master's ack (a ten-hour render is not
 * rerun because the agent died a second too early). One small JSON file per attempt, written
 * then renamed; removed on ack.
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

  save(frame: TaskFinished): void {
    try {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      const file = this.file(frame.attemptId);
      fs.writeFileSync(`${file}.tmp`, JSON.stringify(frame), { mode: 0o600 });
      fs.renameSync(`${file}.tmp`, file);
    } catch (err) {
      this.log.warn({ err, attemptId: frame.attemptId }, 'cannot store the result on disk; it is kept in memory only');
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
  load(): TaskFinished[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir).filter((n) => n.endsWith('.json'));
    } catch {
      return [];
    }
    const out: TaskFinished[] = [];
    for (const name of names) {
      const file = path.join(this.dir, name);
      try {
        out.push(finishedFrame.parse(JSON.parse(fs.readFileSync(file, 'utf8'))));
      } catch (err) {
        this.log.warn({ file, err: (err as Error).message }, 'ignoring an unreadable stored result');
        fs.rmSync(file, { force: true });
      }
    }
    return out.sort((a, b) => a.endedAt - b.endedAt);
  }
}
