#!/usr/bin/env node
/**
 * `npm run bench:qstat-queue`: how `qstat`, `qstat -u USER` and `qstat -j ID` grow with the
 * queue, as workflow engines poll them (Nextflow reads the whole queue, Cromwell and Snakemake
 * status scripts ask `qstat -j` once per job). An embedded farm (a real master and one agent)
 * gets held jobs (nothing runs), each with a 60-variable environment as `qsub -V` gives, in steps
 * up to --jobs; at each depth the median of --calls calls of each command is printed, and the
 * ratio of the deepest queue's time to the shallowest's.
 *
 *   node dist/bench/qstat-queue.js [--jobs 10000] [--calls 5]
 */
import { spawnSync } from 'node:child_process';
import { EmbeddedFarm } from './embedded-farm.js';

const USAGE = 'usage: node dist/bench/qstat-queue.js [--jobs N] [--calls N]';

function parseOptions(argv: string[]): { jobs: number; calls: number } {
  const options = { jobs: 10_000, calls: 5 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    const value = Number(argv[++i]);
    if ((arg !== '--jobs' && arg !== '--calls') || !Number.isInteger(value) || value < 1) throw new Error(`bad option ${arg} ${argv[i] ?? ''}; ${USAGE}`);
    options[arg === '--jobs' ? 'jobs' : 'calls'] = value;
  }
  return options;
}

/** A held job of root's with a `qsub -V`-sized environment, as the API takes it. */
function heldJob(n: number): unknown {
  const env = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`VARIABLE_${i}`, `value-${n}-`.padEnd(50, 'x')]));
  return {
    name: `queued${n}`, submitHost: 'localhost', command: { kind: 'binary', argv: ['/bin/true'] }, cwd: '/tmp', submitCwd: '/tmp',
    stdoutPath: '/dev/null', stderrPath: '/dev/null', joinOutput: false, env, hold: true, holdJobs: [], priority: 0, queue: 'default',
    slots: 1, resources: { other: {} }, pty: false,
  };
}

function medianMs(farm: EmbeddedFarm, args: string[], calls: number): number {
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    const res = spawnSync(farm.bin('qstat'), args, { env: farm.env, encoding: 'utf8', maxBuffer: 1 << 28 });
    times.push(performance.now() - start);
    if (res.status !== 0 && !(args[0] === '-j' && res.status === 1)) throw new Error(`qstat ${args.join(' ')} failed (${res.status ?? res.signal}): ${res.stderr}`);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const farm = new EmbeddedFarm();
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  try {
    await farm.start(1, 1);
    const submit = (n: number): Promise<unknown> => farm.api('POST', '/jobs', heldJob(n));
    const depths = [100, 1_000, 10_000, 100_000].filter((d) => d < options.jobs).concat(options.jobs);
    out(`bench:qstat-queue: held jobs with 60 environment variables each, median of ${options.calls} calls`);
    out('| jobs queued | qstat | qstat -u root | qstat -j (one job) |');
    out('|---|---|---|---|');
    const results: number[][] = [];
    let queued = 0;
    for (const depth of depths) {
      while (queued < depth) {
        const batch = Math.min(50, depth - queued);
        await Promise.all(Array.from({ length: batch }, (_, k) => submit(queued + k)));
        queued += batch;
      }
      const row = [medianMs(farm, [], options.calls), medianMs(farm, ['-u', 'root'], options.calls), medianMs(farm, ['-j', String(Math.ceil(depth / 2))], options.calls)];
      results.push(row);
      out(`| ${depth} | ${row.map((ms) => `${ms.toFixed(0)} ms`).join(' | ')} |`);
    }
    const growth = results.at(-1)!.map((ms, i) => (ms / results[0]![i]!).toFixed(2));
    out(`${depths.at(-1)} jobs against ${depths[0]}: qstat ${growth[0]}×, qstat -u ${growth[1]}×, qstat -j ${growth[2]}×`);
  } finally {
    await farm.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:qstat-queue failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
