#!/usr/bin/env node
/**
 * `npm run bench:qsub`: qsub's wall time, as a workflow engine pays it once per job. N
 * sequential `qsub -terse -h -b y /bin/true` calls against an embedded qfarm farm (a real master
 * and one agent; the jobs are held, so nothing runs), and in the same run N calls of real SGE's
 * /usr/bin/qsub when SGE is installed and its qmaster answers (../shared/peers/sge/setup.sh).
 * Prints both medians (and p90) and their ratio. Alternates the two, call by call, so machine
 * load affects both alike.
 *
 *   node dist/bench/qsub-latency.js [--calls 30]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { EmbeddedFarm } from './embedded-farm.js';

function parseCalls(argv: string[]): number {
  let calls = 30;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--calls') calls = Number(argv[++i]);
    else throw new Error(`unknown option ${argv[i]}; usage: node dist/bench/qsub-latency.js [--calls N]`);
  }
  if (!Number.isInteger(calls) || calls < 1) throw new Error('--calls wants a positive integer');
  return calls;
}

const SGE_QSUB = '/usr/bin/qsub';
const sgeEnv = { ...process.env, SGE_ROOT: process.env['SGE_ROOT'] ?? '/var/lib/gridengine', SGE_CELL: process.env['SGE_CELL'] ?? 'default' };

/** SGE is usable when its qsub exists and its qmaster answers a qstat. */
function sgeAvailable(): string | null {
  if (!fs.existsSync(SGE_QSUB)) return 'SGE is not installed (/usr/bin/qsub missing; run ../shared/peers/sge/setup.sh)';
  const probe = spawnSync('/usr/bin/qstat', [], { env: sgeEnv, encoding: 'utf8', timeout: 10_000 });
  if (probe.status !== 0) return `SGE's qmaster does not answer (qstat: ${(probe.stderr || '').trim() || probe.status}); start it with ../shared/peers/sge/setup.sh`;
  return null;
}

function timed(run: () => string): { ms: number; out: string } {
  const t0 = performance.now();
  const out = run();
  return { ms: performance.now() - t0, out };
}

function stats(times: number[]): { median: number; p90: number } {
  const sorted = [...times].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, p90: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))]! };
}

async function main(): Promise<void> {
  const calls = parseCalls(process.argv.slice(2));
  const sgeProblem = sgeAvailable();
  const os = await import('node:os');
  process.stdout.write(`qsub latency: ${calls} sequential calls each, ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(2)}\n`);
  const farm = new EmbeddedFarm();
  const ours: number[] = [];
  const theirs: number[] = [];
  const sgeJobs: string[] = [];
  const args = ['-terse', '-h', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', '/bin/true'];
  try {
    await farm.start(1, 1);
    farm.run('qsub', args); // warm the file cache once, for both alike
    if (!sgeProblem) sgeJobs.push(spawnSync(SGE_QSUB, args, { env: sgeEnv, encoding: 'utf8' }).stdout.trim());
    for (let i = 0; i < calls; i++) {
      ours.push(timed(() => farm.run('qsub', args)).ms);
      if (sgeProblem) continue;
      const sge = timed(() => {
        const res = spawnSync(SGE_QSUB, args, { env: sgeEnv, encoding: 'utf8' });
        if (res.status !== 0) throw new Error(`SGE's qsub failed (${res.status}): ${res.stderr}`);
        return res.stdout.trim();
      });
      theirs.push(sge.ms);
      sgeJobs.push(sge.out);
    }
  } finally {
    if (sgeJobs.length > 0) spawnSync('/usr/bin/qdel', sgeJobs, { env: sgeEnv, stdio: 'ignore' });
    await farm.stop();
  }
  const q = stats(ours);
  process.stdout.write(`qfarm qsub:    median ${q.median.toFixed(1)} ms, p90 ${q.p90.toFixed(1)} ms\n`);
  if (sgeProblem) {
    process.stdout.write(`SGE qsub:      not measured: ${sgeProblem}\n`);
    return;
  }
  const s = stats(theirs);
  process.stdout.write(`SGE 8.1.9 qsub: median ${s.median.toFixed(1)} ms, p90 ${s.p90.toFixed(1)} ms\n`);
  process.stdout.write(`ratio qfarm/SGE (medians): ${(q.median / s.median).toFixed(2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:qsub failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
