import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Keeps every attempt's streamed output under `QFARM_HOME/logs/<job>/<task>/<attempt>.<stream>`,
 * so `qfarm logs` works for any host, even when the task's own output file is on a worker's disk.
 */
export class LogStore {
  constructor(private readonly root: string) {}

  file(jobId: number, taskId: number, attemptId: string, stream: 'stdout' | 'stderr'): string {
    return path.join(this.root, String(jobId), String(taskId), `${attemptId}.${stream}`);
  }

  append(jobId: number, taskId: number, attemptId: string, stream: 'stdout' | 'stderr', data: Buffer): void {
    const file = this.file(jobId, taskId, attemptId, stream);
    try {
      fs.appendFileSync(file, data);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.appendFileSync(file, data);
    }
  }
}
