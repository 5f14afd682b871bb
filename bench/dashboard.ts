import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { EmbeddedFarm } from './embedded-farm.js';

/**
 * `npm run bench:dashboard`: what 20 open dashboard pages cost the master on a busy farm.
 * One run: a farm works through a large array of short tasks; the master's CPU time (from
 * /proc) is measured over windows without pages, with 20 pages, and without again. Each page
 * is what the browser does: one live stream (jobs + hosts) and, on every `changed`, a fetch of
 * the first 50 rows of the job table. Prints the extra share of one core the pages cost.
 */

const PAGES = Number(process.env['PAGES'] ?? 20);
const WINDOW_MS = Number(process.env['WINDOW_MS'] ?? 15_000);

function masterCpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

async function measure(pid: number, ms: number): Promise<{ cpu: number; wall: number }> {
  const c0 = masterCpuSeconds(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return { cpu: masterCpuSeconds(pid) - c0, wall: (performance.now() - t0) / 1000 };
}

/** A signed-in page: a session cookie from a one-time link, as `qfarm web` gives a user. */
async function signIn(farm: EmbeddedFarm, url: string): Promise<string> {
  const token = fs.readFileSync(path.join(farm.home, 'api-token'), 'utf8').trim();
  const link = (await (await fetch(`${url}/api/v1/web/sign-in-link`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).json()) as { url: string };
  const res = await fetch(link.url, { redirect: 'manual' });
  const cookie = res.headers.get('set-cookie')?.split(';')[0];
  if (!cookie) throw new Error(`sign-in gave no cookie (HTTP ${res.status})`);
  return cookie;
}

interface OpenPage {
  close(): void;
  updates: number;
}

function openPage(url: string, cookie: string): OpenPage {
  const page: OpenPage = { close: () => req.destroy(), updates: 0 };
  const refetch = (): void => {
    http.get(`${url}/api/v1/web/jobs?state=active&offset=0&limit=50`, { headers: { cookie } }, (res) => res.resume());
  };
  const req = http.get(`${url}/api/v1/web/events?topics=jobs,hosts`, { headers: { cookie } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      const changes = chunk.split('event: changed').length - 1;
      page.updates += changes;
      if (changes > 0) refetch();
    });
  });
  req.on('error', () => undefined);
  refetch();
  return page;
}

async function main(): Promise<void> {
  const farm = new EmbeddedFarm();
  try {
    await farm.start(2, 4);
    const info = JSON.parse(fs.readFileSync(path.join(farm.home, 'master.json'), 'utf8')) as { url: string; pid: number };
    farm.run('qsub', ['-b', 'y', '-t', '1-1000000', '-o', '/dev/null', '-e', '/dev/null', '-N', 'busy', '/bin/true']);
    await new Promise((r) => setTimeout(r, 5_000)); // reach a steady task rate
    const before = await measure(info.pid, WINDOW_MS);
    const cookies = await Promise.all(Array.from({ length: PAGES }, () => signIn(farm, info.url)));
    const pages = cookies.map((c) => openPage(info.url, c));
    await new Promise((r) => setTimeout(r, 1_000));
    const updates0 = pages.reduce((s, p) => s + p.updates, 0);
    const withPages = await measure(info.pid, WINDOW_MS);
    const updates = pages.reduce((s, p) => s + p.updates, 0) - updates0;
    for (const p of pages) p.close();
    await new Promise((r) => setTimeout(r, 1_000));
    const after = await measure(info.pid, WINDOW_MS);
    const busy = (await farm.api('GET', '/web/jobs?state=all&limit=1')) as { rows: { done: number }[] };
    const tasks = busy.rows[0]?.done ?? 0;
    const baseline = (before.cpu + after.cpu) / (before.wall + after.wall);
    const loaded = withPages.cpu / withPages.wall;
    const extra = loaded - baseline;
    const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
    process.stdout.write(
      [
        `dashboard bench: ${PAGES} pages (SSE jobs+hosts, refetch 50 rows per update) on a farm running /bin/true tasks (2 agents x 4 slots)`,
        `master CPU without pages: ${pct(before.cpu / before.wall)} and ${pct(after.cpu / after.wall)} of a core (${WINDOW_MS / 1000} s windows)`,
        `master CPU with ${PAGES} pages: ${pct(loaded)} of a core; ${(updates / PAGES / withPages.wall).toFixed(2)} updates/s per page`,
        `cost of the pages: ${pct(extra)} of a core (target < 5 %); ratio with/without ${(loaded / baseline).toFixed(2)}x`,
        `tasks done during the run: ${tasks} (${(tasks / (before.wall + withPages.wall + after.wall + 7)).toFixed(0)}/s)`,
        '',
      ].join('\n'),
    );
  } finally {
    await farm.stop();
  }
}

await main();
