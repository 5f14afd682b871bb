import * as http from 'node:http';
import { LogHeaders } from '../../protocol/log-headers.js';
import { API_PREFIX } from '../../protocol/version.js';
import { CliError } from '../cli-errors.js';
import { connectOptions, describeMaster, locateMaster } from '../master-location.js';

/**
 * `qfarm logs JOB[.TASK] [-f] [--stderr]`: prints a task's output as the master received it;
 * with -f, keeps streaming until the task ends.
 */
export async function printLogs(ref: string, options: { follow: boolean; stderr: boolean }): Promise<void> {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(ref);
  if (!m) throw new CliError(`qfarm logs: "${ref}" is not a job or task id`, 2, 'use JOB or JOB.TASK, e.g. qfarm logs 42.7');
  const master = locateMaster();
  const url = new URL(`${master.url}${API_PREFIX}/logs/${m[1]}/${m[2] ?? '1'}`);
  url.searchParams.set('stream', options.stderr ? 'stderr' : 'stdout');
  if (options.follow) url.searchParams.set('follow', '1');
  await new Promise<void>((resolve, reject) => {
    const req = http.get(url, connectOptions(master), (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          let message = body;
          try {
            const parsed = JSON.parse(body) as { error?: string; hint?: string };
            message = parsed.error ?? body;
            if (parsed.hint) message += ` (${parsed.hint})`;
          } catch {
            // Not JSON: show the raw body.
          }
          reject(new CliError(`qfarm logs: ${message}`, 1));
        });
        return;
      }
      res.pipe(process.stdout, { end: false });
      res.on('end', () => {
        printFailure(ref, m[1]!, m[2] ?? '1', res.headers);
        resolve();
      });
      res.on('error', reject);
    });
    req.on('error', (err) => reject(new CliError(`qfarm logs: cannot reach the master at ${describeMaster(master)}: ${err.message}`, 1, "is it running? start it with 'qfarm up'")));
  });
}

/** A task that ended failed: why, on stderr (stdout stays the task's own output). */
function printFailure(ref: string, job: string, task: string, headers: http.IncomingHttpHeaders): void {
  const encoded = headers[LogHeaders.failedReason];
  if (typeof encoded !== 'string') return;
  let reason: string;
  try {
    reason = decodeURIComponent(encoded);
  } catch {
    reason = encoded;
  }
  const attempts = Number(headers[LogHeaders.attempts]);
  const after = Number.isInteger(attempts) && attempts > 0 ? ` after ${attempts} attempt${attempts === 1 ? '' : 's'}` : '';
  process.stderr.write(`qfarm logs ${ref}: task ${job}.${task} failed${after}: ${reason}\n`);
}
