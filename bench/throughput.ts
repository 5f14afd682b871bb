#!/usr/bin/env node
/**
 * `npm run bench:throughput`: 1,000 trivial tasks (/bin/true) as one array on 2 local agents
 * (1 slot each), end to end, side by side in the same run with GNU parallel -j 2 running the
 * same 1,000 commands, and — with --with-sge / --with-slurm, when installed — the real SGE and
 * Slurm (../shared/peers set them up with 2 slots). Prints wall times and ratios, and qsub's
 * own wall time (workflow engines call it once per job).
 *
 *   node dist/bench/throughput.js [--tasks 1000] [--qsub-calls 30] [--with-sge] [--with-slurm]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { EmbeddedFarm } from './embedded-farm.js';

interface Args {
  tasks: number;
  qsubCalls: number;
  withSge: boolean;
  withSlurm: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { tasks: 1000, qsubCalls: 30, withSge: false, withSlurm: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--tasks') args.tasks = Number(argv[++i]);
    else if (a === '--qsub-calls') args.qsubCalls = Number(argv[++i]);
    else if (a === '--with-sge') args.withSge = true;
    else if (a === '--with-slurm') args.withSlurm = true;
    else throw new Error(`unknown option ${a}; see the header of bench/throughput.ts`);
  }
  return args;
}

const seconds = (ms: number): string => (ms / 1000).toFixed(2);

function have(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v "$1"`, 'sh', command], { encoding: 'utf8' }).status === 0;
}

function gnuParallel(tasks: number): number {
  if (!have('parallel')) {
    process.stdout.write('GNU parallel is not installed; installing it (apt-get install -y parallel)...\n');
    const res = spawnSync('sh', ['-c', 'apt-get install -y -qq parallel >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq parallel)'], { stdio: 'inherit' });
    if (res.status !== 0) throw new Error('could not install GNU parallel: run apt-get install parallel');
  }
  const input = Array.from({ length: tasks }, () => '/bin/true').join('\n') + '\n';
  const start = performance.now();
  const res = spawnSync('parallel', ['--will-cite', '-j', '2'], { input, stdio: ['pipe', 'ignore', 'inherit'] });
  if (res.status !== 0) throw new Error(`GNU parallel failed with ${res.status}`);
  return performance.now() - start;
}

/** A peer scheduler through its own CLI: submit one array, poll until its queue is empty. */
function peer(name: string, submit: string[], queueEmpty: () => boolean): number {
  const start = performance.now();
  const res = spawnSync(submit[0]!, submit.slice(1), { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`${name} submit failed: ${res.stderr}`);
  while (!queueEmpty()) spawnSync('sleep', ['0.2']);
  return performance.now() - start;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  process.stdout.write(`throughput: ${args.tasks} x /bin/true, 2 slots each system, on ${(await import('node:os')).cpus().length} cores\n\n`);
  const results: { name: string; ms: number }[] = [];

  const farm = new EmbeddedFarm();
  try {
    await farm.start(2, 1);
    const before = farm.masterRssKiB();
    const start = performance.now();
    const out = farm.run('qsub', ['-terse', '-b', 'y', '-t', `1-${args.tasks}`, '-o', '/dev/null', '-e', '/dev/null', '/bin/true']);
    const jobId = Number.parseInt(out, 10);
    await farm.waitForJob(jobId);
    const ms = performance.now() - start;
    results.push({ name: 'qfarm (2 agents x 1 slot)', ms });
    const acct = (await farm.api('GET', `/accounting?job=${jobId}`)) as { records: { exitStatus: number }[] };
    const ok = acct.records.filter((r) => r.exitStatus === 0).length;
    const after = farm.masterRssKiB();
    process.stdout.write(`qfarm: ${ok}/${args.tasks} tasks exited 0 (qacct); master RSS ${before?.rss ?? '?'} KiB before, ${after?.rss ?? '?'} KiB after, peak ${after?.hwm ?? '?'} KiB\n`);

    // qsub's own wall time: one process per call, as a workflow engine runs it.
    const times: number[] = [];
    for (let i = 0; i < args.qsubCalls; i++) {
      const t0 = performance.now();
      farm.run('qsub', ['-terse', '-h', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', '/bin/true']);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    process.stdout.write(`qsub wall time over ${args.qsubCalls} calls: median ${median.toFixed(1)} ms, p90 ${times[Math.floor(times.length * 0.9)]!.toFixed(1)} ms (target < 150 ms)\n`);
  } finally {
    await farm.stop();
  }

  results.push({ name: 'GNU parallel -j 2', ms: gnuParallel(args.tasks) });

  if (args.withSge) {
    if (!fs.existsSync('/usr/bin/qsub')) process.stdout.write('SGE: /usr/bin/qsub not installed; run ../shared/peers/sge/setup.sh first\n');
    else
      results.push({
        name: 'SGE 8.1.9 (2 slots)',
        ms: peer('SGE', ['/usr/bin/qsub', '-b', 'y', '-t', `1-${args.tasks}`, '-o', '/dev/null', '-e', '/dev/null', '/bin/true'], () =>
          spawnSync('/usr/bin/qstat', ['-u', '*'], { encoding: 'utf8' }).stdout.trim() === ''),
      });
  }
  if (args.withSlurm) {
    if (!have('sbatch')) process.stdout.write('Slurm: sbatch not installed; run ../shared/peers/slurm/setup.sh first\n');
    else
      results.push({
        name: 'Slurm 22.05 (2 CPUs)',
        ms: peer('Slurm', ['sbatch', '-o', '/dev/null', `--array=1-${args.tasks}`, '--wrap', 'true'], () =>
          spawnSync('squeue', ['-h'], { encoding: 'utf8' }).stdout.trim() === ''),
      });
  }

  const parallel = results.find((r) => r.name.startsWith('GNU parallel'))!.ms;
  const qfarm = results[0]!.ms;
  process.stdout.write('\nsystem                         wall s   tasks/s   vs GNU parallel   vs qfarm\n');
  for (const r of results) {
    process.stdout.write(
      `${r.name.padEnd(30)} ${seconds(r.ms).padStart(7)} ${(args.tasks / (r.ms / 1000)).toFixed(1).padStart(9)} ${(r.ms / parallel).toFixed(2).padStart(16)}x ${(r.ms / qfarm).toFixed(2).padStart(9)}x\n`,
    );
  }
  const ratio = qfarm / parallel;
  process.stdout.write(`\nqfarm / GNU parallel = ${ratio.toFixed(2)} (target <= 2.00): ${ratio <= 2 ? 'MET' : 'NOT MET'}\n`);
  if (!args.withSge && !args.withSlurm) {
    process.stdout.write('(SGE and Slurm not run: add --with-sge / --with-slurm after ../shared/peers/{sge,slurm}/setup.sh; each takes ~8 min for 1,000 tasks)\n');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).message}\n`);
  process.exit(1);
});
