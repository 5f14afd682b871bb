/**
 * Staging throughput: qfarm's stage cache vs a plain sequential ali-oss get loop, same run,
 * same local fake OSS (a separate process, so client and server do not share an event loop).
 *
 *   node dist/bench/staging.js [--small 1000] [--small-kb 16] [--large-mb 1024]
 *                              [--latency-ms 0,5] [--repeat 3] [--concurrency 24] [--v4]
 *                              [--node-tasks 16] [--node-slots 4]
 *
 * Small files: list + GET each (baseline: one at a time) vs stageTree (parallel, cold cache),
 * then stageTree again (warm cache, what the next task on the node sees). --latency-ms adds a
 * per-request delay at the fake to mimic a real network round trip (loopback has ~none); each
 * value is measured. Large file: ali-oss get to a file vs stageObject (streamed, CRC-64 checked,
 * hard-linked into place). Small-file rows are the median of --repeat rounds (the machine may be
 * shared); the large file is measured once. Node case (--node-tasks, --node-slots): that many
 * tasks of one node, so many at a time, map the small files to one node path through the agent's
 * data side while the fake drops requests; every task's digest of its tree must be the source's
 * (bench/shared-inputs-case.ts).
 *
 * Internally `--serve-fake DIR` runs the fake-OSS child.
 */
import OSS from 'ali-oss';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FakeOssServer } from '../fakes/oss/server.js';
import { StoreResolver } from '../storage/open-store.js';
import { StaticCredentials } from '../storage/oss-credentials.js';
import { StageCache } from '../storage/stage-cache.js';
import { runSharedInputsCase } from './shared-inputs-case.js';

const ID = 'LTAIbenchStaging';
const SECRET = 'bench-secret';
const BUCKET = 'qfarm-bench';

const { values } = parseArgs({
  options: {
    'serve-fake': { type: 'string' },
    small: { type: 'string', default: '1000' },
    'small-kb': { type: 'string', default: '16' },
    'large-mb': { type: 'string', default: '1024' },
    'latency-ms': { type: 'string', default: '0,5' },
    repeat: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '24' },
    v4: { type: 'boolean', default: false },
    'node-tasks': { type: 'string', default: '16' },
    'node-slots': { type: 'string', default: '4' },
  },
});
const smallCount = Number(values.small);
const smallBytes = Number(values['small-kb']) * 1024;
const largeBytes = Math.round(Number(values['large-mb']) * 1024 * 1024);
const repeat = Math.max(1, Number(values.repeat));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function writeLargeFile(path: string, size: number): Promise<void> {
  // Random 1 MiB blocks, each stamped with its index, so a misplaced block changes the content.
  const block = randomBytes(1024 * 1024);
  const out = createWriteStream(path);
  for (let off = 0, i = 0; off < size; off += block.length, i++) {
    const chunk = Buffer.from(block.subarray(0, Math.min(block.length, size - off)));
    if (chunk.length >= 8) chunk.writeBigUInt64LE(BigInt(i), 0);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Child mode: seed the objects, serve, print the URL. */
async function serveFake(dir: string): Promise<void> {
  const server = await FakeOssServer.start({ dir, keys: [{ accessKeyId: ID, accessKeySecret: SECRET }], buckets: [BUCKET] });
  for (let i = 0; i < smallCount; i++) {
    await server.seed(BUCKET, `scene/textures/${String(Math.floor(i / 100)).padStart(2, '0')}/tex${i}.png`, randomBytes(smallBytes));
  }
  if (largeBytes > 0) {
    const src = join(dir, 'large-src.bin');
    await writeLargeFile(src, largeBytes);
    await server.seedFromFile(BUCKET, 'scene/large/cache.vdb', src);
    await rm(src);
  }
  process.stdout.write(`QFARM_FAKE_OSS_URL=${server.url}\n`);
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

function fmt(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'qfarm-bench-staging-'));
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve-fake', join(work, 'oss'), '--small', String(smallCount), '--small-kb', String(values['small-kb']), '--large-mb', String(values['large-mb'])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const seedStart = Date.now();
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const url = line.split('=')[1]!;
    console.log(`fake OSS at ${url} (separate process), seeded ${smallCount} × ${smallBytes / 1024} KiB + ${(largeBytes / 1048576).toFixed(0)} MiB in ${fmt(Date.now() - seedStart)}`);
    const admin = `${url}/_fake`;
    const client = new OSS({ endpoint: url, accessKeyId: ID, accessKeySecret: SECRET, bucket: BUCKET, authorizationV4: values.v4, timeout: 600_000 });
    const resolver = new StoreResolver(
      { oss: { endpoint: url, credentials: new StaticCredentials({ accessKeyId: ID, accessKeySecret: SECRET }, 'bench'), authorizationV4: values.v4, timeoutMs: 600_000 } },
      {},
    );
    const concurrency = Number(values.concurrency);
    const rows: string[][] = [];

    for (const latency of values['latency-ms'].split(',').map(Number)) {
      await fetch(`${admin}/faults`, { method: 'DELETE' });
      if (latency > 0) await fetch(`${admin}/faults`, { method: 'POST', body: JSON.stringify({ kind: 'slow', delayMs: latency, times: 1e12 }) });

      const baseTimes: number[] = [];
      const coldTimes: number[] = [];
      const warmTimes: number[] = [];
      for (let round = 0; round < repeat; round++) {
        // Baseline: list, then one GET at a time.
        const base = join(work, `baseline-small-${latency}-${round}`);
        let t0 = Date.now();
        let token: string | null = null;
        let n = 0;
        do {
          const q: Record<string, string> = { prefix: 'scene/textures/', 'max-keys': '1000' };
          if (token) q['continuation-token'] = token;
          const page = await client.listV2(q);
          for (const o of page.objects) {
            const dest = join(base, o.name.slice('scene/textures/'.length));
            await mkdir(dirname(dest), { recursive: true });
            await client.get(o.name, dest);
            n++;
          }
          token = page.nextContinuationToken;
        } while (token);
        baseTimes.push(Date.now() - t0);

        // A fresh cache each round: cold means nothing cached yet.
        const cache = await StageCache.open({ dir: join(work, `cache-${latency}-${round}`), maxBytes: 64 * 1024 ** 3, resolver, concurrency });
        t0 = Date.now();
        const cold = await cache.stageTree(`oss://${BUCKET}/scene/textures/`, join(work, `staged-small-${latency}-${round}`));
        coldTimes.push(Date.now() - t0);
        t0 = Date.now();
        const warm = await cache.stageTree(`oss://${BUCKET}/scene/textures/`, join(work, `staged-small-warm-${latency}-${round}`));
        warmTimes.push(Date.now() - t0);
        await cache.close();
        if (n !== smallCount || cold.files !== smallCount || warm.hits !== smallCount) throw new Error(`file counts differ: ${n}, ${cold.files}, ${warm.hits}`);
        await rm(join(work, `cache-${latency}-${round}`), { recursive: true, force: true });
      }
      const baseMs = median(baseTimes);
      const coldMs = median(coldTimes);
      const warmMs = median(warmTimes);
      rows.push([`${smallCount} small files, +${latency} ms/request (median of ${repeat})`, 'sequential ali-oss get', fmt(baseMs), `${(smallCount / (baseMs / 1000)).toFixed(0)} files/s`, '1.00×']);
      rows.push(['', `stageTree cold (${concurrency} parallel)`, fmt(coldMs), `${(smallCount / (coldMs / 1000)).toFixed(0)} files/s`, `${(baseMs / coldMs).toFixed(2)}×`]);
      rows.push(['', 'stageTree warm (cache hits)', fmt(warmMs), `${(smallCount / (warmMs / 1000)).toFixed(0)} files/s`, `${(baseMs / warmMs).toFixed(2)}×`]);
    }
    await fetch(`${admin}/faults`, { method: 'DELETE' });

    const nodeTasks = Number(values['node-tasks']);
    if (nodeTasks > 0) {
      const node = await runSharedInputsCase({
        ossUrl: url,
        adminUrl: admin,
        accessKeyId: ID,
        accessKeySecret: SECRET,
        source: `oss://${BUCKET}/scene/textures/`,
        sourceCopy: join(work, `baseline-small-${values['latency-ms'].split(',')[0]}-0`),
        work,
        tasks: nodeTasks,
        slots: Number(values['node-slots']),
      });
      rows.push([
        `${node.tasks} tasks of one node, ${values['node-slots']} at a time, one prefix, OSS faults`,
        `NodeData (${node.stagings} publish(es), every digest = source's)`,
        fmt(node.wallMs),
        `${((node.tasks * smallCount) / (node.wallMs / 1000)).toFixed(0)} files seen/s`,
        '',
      ]);
    }

    if (largeBytes > 0) {
      const key = 'scene/large/cache.vdb';
      let t0 = Date.now();
      await client.get(key, join(work, 'baseline-large.bin'));
      const baseMs = Date.now() - t0;
      await rm(join(work, 'baseline-large.bin'));
      const cache = await StageCache.open({ dir: join(work, 'cache-large'), maxBytes: 64 * 1024 ** 3, resolver });
      t0 = Date.now();
      const lease = await cache.stageObject(`oss://${BUCKET}/${key}`, join(work, 'staged-large.bin'));
      const coldMs = Date.now() - t0;
      t0 = Date.now();
      await cache.stageObject(`oss://${BUCKET}/${key}`, join(work, 'staged-large-2.bin'));
      const warmMs = Date.now() - t0;
      await cache.close();
      if ((await stat(join(work, 'staged-large.bin'))).size !== largeBytes || lease.hit) throw new Error('large file staging went wrong');
      const mib = largeBytes / 1048576;
      rows.push([`1 file of ${mib.toFixed(0)} MiB`, 'ali-oss get to a file', fmt(baseMs), `${(mib / (baseMs / 1000)).toFixed(0)} MiB/s`, '1.00×']);
      rows.push(['', 'stageObject cold (CRC-64 checked)', fmt(coldMs), `${(mib / (coldMs / 1000)).toFixed(0)} MiB/s`, `${(baseMs / coldMs).toFixed(2)}×`]);
      rows.push(['', 'stageObject warm (hard link)', fmt(warmMs), `${(mib / (Math.max(warmMs, 1) / 1000)).toFixed(0)} MiB/s`, `${(baseMs / Math.max(warmMs, 1)).toFixed(2)}×`]);
    }

    const header = ['workload', 'method', 'wall', 'throughput', 'speed-up vs baseline'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line2 = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
    console.log(line2(header));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of rows) console.log(line2(r));
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit').catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

if (values['serve-fake']) {
  serveFake(values['serve-fake']).catch((err: Error) => {
    process.stderr.write(`bench fake: ${err.message}\n`);
    process.exit(2);
  });
} else {
  main().catch((err: Error) => {
    process.stderr.write(`bench/staging: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
