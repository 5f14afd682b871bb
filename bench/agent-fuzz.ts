#!/usr/bin/env node
/**
 * `npm run bench:fuzz`: the agent-protocol fuzzer at length. Starts an embedded farm (one real
 * agent running a real task), sends >= 100,000 hostile frames (random, truncated, mistyped,
 * deep, oversized, wrong-owner, hellos reusing the live agent's id) and prints frames sent and
 * the master's RSS before and after. Verdict: PASS when RSS grew by at most 50 MB, the master
 * still runs, and the victim task's real result (exit 7) is the one committed; exits 1 otherwise.
 *
 * Two growths are printed. From start (cold): about +60 MB, over 50 MB, and it comes within
 * the first few thousand frames, not with their number: the first oversized frames (2 MiB
 * output chunks, 20,000-attempt hellos, arriving on 4 connections at once) make V8 grow its
 * heap and glibc its malloc arenas, which are kept for the next burst. After a 5,000-frame
 * warm-up the RSS stays on that plateau for the next 100,000 frames (the min–max sampled
 * during the run is printed): nothing is kept per frame or per connection (the hub's sessions
 * and grace timers are keyed by agent id, and the fuzzer's ids are few). The verdict is on
 * the growth after the warm-up, which is what a leak would move.
 *
 *   node dist/bench/agent-fuzz.js [--frames 100000] [--seed N] [--concurrency 4]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { EmbeddedFarm } from './embedded-farm.js';
import { fuzzAgentProtocol, rssBytes } from './agent-fuzz-frames.js';

const MAX_GROWTH_BYTES = 50 * 1000 * 1000;
const WARM_UP_FRAMES = 5000;

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '100000' },
    seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
    concurrency: { type: 'string', default: '4' },
  },
});
const frames = Number(values.frames);
const seed = Number(values.seed);
if (!Number.isSafeInteger(frames) || frames < 1 || !Number.isSafeInteger(seed)) throw new Error('--frames and --seed take integers; see the header of bench/agent-fuzz.ts');

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

async function main(): Promise<number> {
  const farm = new EmbeddedFarm();
  try {
    await farm.start(1, 1);
    const master = JSON.parse(fs.readFileSync(path.join(farm.home, 'master.json'), 'utf8')) as { url: string; pid: number };
    const gate = path.join(farm.home, 'gate');
    const victim = Number.parseInt(farm.run('qsub', ['-terse', '-cwd', '-o', '/dev/null', '-e', '/dev/null', '-b', 'y', 'sh', '-c', 'while [ ! -e "$1" ]; do sleep 0.1; done; exit 7', 'x', gate]), 10);
    const db = new Database(path.join(farm.home, 'store.sqlite'), { readonly: true });
    let attemptId: string | undefined;
    for (let i = 0; i < 300 && !attemptId; i++) {
      attemptId = db.prepare(`SELECT id FROM attempts WHERE job_id = ? AND state = 'running'`).pluck().get(victim) as string | undefined;
      if (!attemptId) await new Promise((r) => setTimeout(r, 100));
    }
    if (!attemptId) throw new Error(`victim job ${victim} did not start within 30 s`);
    const agentDir = path.join(farm.home, 'agents');
    const agentId = fs.readFileSync(path.join(agentDir, fs.readdirSync(agentDir)[0]!, 'agent-id'), 'utf8').trim();

    const common = {
      url: master.url,
      agentToken: fs.readFileSync(path.join(farm.home, 'agent-token'), 'utf8').trim(),
      victimAttempts: [attemptId],
      victimAgentIds: [agentId],
      concurrency: Number(values.concurrency),
    };
    const atStart = rssBytes(master.pid);
    console.log(`agent-fuzz: seed ${seed}; master pid ${master.pid}, RSS at start ${mb(atStart)}; warming up with ${WARM_UP_FRAMES} frames`);
    await fuzzAgentProtocol({ ...common, frames: WARM_UP_FRAMES, seed: seed + 1 });
    await new Promise((r) => setTimeout(r, 1000));
    const before = rssBytes(master.pid);
    console.log(`agent-fuzz: RSS after warm-up ${mb(before)}; sending ${frames} frames`);
    const started = Date.now();
    const during: number[] = [];
    const report = await fuzzAgentProtocol({
      ...common,
      frames,
      seed,
      onProgress: (sent) => {
        during.push(rssBytes(master.pid));
        console.log(`  ${sent} frames sent, master RSS ${mb(during.at(-1)!)}`);
      },
    });
    const seconds = (Date.now() - started) / 1000;
    // Let the master finish what is queued on its sockets before measuring.
    await new Promise((r) => setTimeout(r, 2000));
    const after = rssBytes(master.pid);
    fs.writeFileSync(gate, '');
    await farm.waitForJob(victim);
    const exit = db.prepare('SELECT exit_status FROM tasks WHERE job_id = ?').pluck().get(victim) as number;
    db.close();

    console.log(`frames sent:        ${report.sent} in ${seconds.toFixed(1)} s over ${report.connections} connections`);
    console.log(`frame kinds:        ${JSON.stringify(report.kinds)}`);
    console.log(`master closes:      ${JSON.stringify(report.closes)}`);
    console.log(`master RSS at start: ${mb(atStart)} (before the ${WARM_UP_FRAMES}-frame warm-up)`);
    console.log(`master RSS before:  ${mb(before)} (after the warm-up)`);
    console.log(`master RSS during:  ${mb(Math.min(...during))} – ${mb(Math.max(...during))} (sampled every progress line)`);
    console.log(`master RSS after:   ${mb(after)}`);
    console.log(`growth from start:  ${mb(after - atStart)} (cold: one-time heap and malloc sizing, see the header; not the verdict)`);
    console.log(`growth after warm-up: ${mb(after - before)} (limit ${mb(MAX_GROWTH_BYTES)}: the verdict)`);
    console.log(`victim task result: exit ${exit} (expected 7: the real agent's result, not a forged one)`);
    const ok = report.sent >= frames && after - before <= MAX_GROWTH_BYTES && exit === 7;
    console.log(`verdict:            ${ok ? 'PASS' : 'FAIL'}`);
    return ok ? 0 : 1;
  } finally {
    await farm.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`agent-fuzz: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
