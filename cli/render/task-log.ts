import http from 'node:http';
import https from 'node:https';
import { API_PREFIX } from '../../protocol/version.js';
import { connectOptions, describeMaster, type MasterLocation } from '../master-location.js';
import { MasterUnreachableError } from '../api-client.js';

/**
 * A task's output as text (`GET /logs/:job/:task`), which is not JSON and so not for
 * ApiClient. A task that never started has no log: that is an empty string, not an error.
 */
export function fetchTaskLog(master: MasterLocation, jobId: number, taskId: number, stream: 'stdout' | 'stderr' = 'stdout'): Promise<string> {
  const url = new URL(`${master.url}${API_PREFIX}/logs/${jobId}/${taskId}`);
  url.searchParams.set('stream', stream);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.get(url, { ...connectOptions(master), agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(res.statusCode === 200 ? Buffer.concat(chunks).toString('utf8') : ''));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', (err) => reject(new MasterUnreachableError(describeMaster(master), err.message)));
  });
}

/** The last `count` non-empty lines, with `\r` progress lines reduced to what a terminal shows. */
export function lastLines(text: string, count: number): string[] {
  const lines = text
    .split('\n')
    .map((line) => line.split('\r').filter((part) => part !== '').pop() ?? '')
    .filter((line) => line.trim() !== '');
  return lines.slice(-count);
}
