/**
 * bench/staging.ts's node case (issue 16.1): `tasks` tasks of one node, `slots` at a time, map one
 * OSS prefix to one node path through the agent's own data side (NodeData) while the fake OSS
 * drops requests. Each task digests the tree it sees as soon as its inputs are ready; every
 * digest must equal the source's. Reports the wall time and how often the tree was published.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { NodeData } from '../agent/task-data.js';
import { parseDataMapping } from '../storage/data-mappings.js';

export interface SharedInputsCase {
  ossUrl: string;
  adminUrl: string;
  accessKeyId: string;
  accessKeySecret: string;
  /** oss://bucket/prefix/ */
  source: string;
  /** A local copy of the source (the baseline download) to digest. */
  sourceCopy: string;
  work: string;
  tasks: number;
  slots: number;
}

export interface SharedInputsResult {
  wallMs: number;
  tasks: number;
  stagings: number;
}

/** Names and contents of every file under `dir`, in name order. */
export async function treeDigest(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const entries = (await readdir(join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else hash.update(`${p}\0`).update(createHash('sha256').update(await readFile(join(dir, p))).digest());
    }
  };
  await walk('');
  return hash.digest('hex');
}

export async function runSharedInputsCase(c: SharedInputsCase): Promise<SharedInputsResult> {
  const want = await treeDigest(c.sourceCopy);
  let stagings = 0;
  const log = pino({ level: 'info' }, { write: (line: string) => void (line.includes('input staged and published') && stagings++) });
  const data = new NodeData({
    cacheDir: join(c.work, 'node-cache'),
    cacheMaxBytes: 64 * 1024 ** 3,
    log,
    env: { PATH: process.env['PATH'], QFARM_OSS_ENDPOINT: c.ossUrl, ALIBABA_CLOUD_ACCESS_KEY_ID: c.accessKeyId, ALIBABA_CLOUD_ACCESS_KEY_SECRET: c.accessKeySecret, QFARM_OSS_MOUNT: '0' },
  });
  const me = userInfo();
  const who = { identity: { name: me.username, uid: me.uid, gid: me.gid, home: me.homedir }, groups: undefined, asSelf: true };
  const target = join(c.work, 'node-path', 'refs');
  const mapping = parseDataMapping(`${c.source}:${target}:ro`);
  // Requests dropped while the tasks stage: 503s on one object in 20, two resets.
  await fetch(`${c.adminUrl}/faults`, { method: 'DELETE' });
  await fetch(`${c.adminUrl}/faults`, { method: 'POST', body: JSON.stringify({ kind: 'status', status: 503, op: 'GetObject', key: '[05]\\.png$', times: 50 }) });
  await fetch(`${c.adminUrl}/faults`, { method: 'POST', body: JSON.stringify({ kind: 'reset', op: 'GetObject', times: 2 }) });
  const started = Date.now();
  let next = 1;
  const wrong: string[] = [];
  const slot = async (): Promise<void> => {
    while (next <= c.tasks) {
      const task = next++;
      const release = await data.prepareInputs({ inputs: [mapping] }, who);
      try {
        const seen = await treeDigest(target);
        if (seen !== want) wrong.push(`task ${task} saw ${seen}`);
      } finally {
        await release();
      }
    }
  };
  await Promise.all(Array.from({ length: c.slots }, slot));
  const wallMs = Date.now() - started;
  await data.close();
  await fetch(`${c.adminUrl}/faults`, { method: 'DELETE' });
  if (wrong.length > 0) throw new Error(`node case: ${wrong.length} of ${c.tasks} tasks saw a tree other than the source's (${want}): ${wrong.slice(0, 3).join('; ')}`);
  return { wallMs, tasks: c.tasks, stagings };
}
