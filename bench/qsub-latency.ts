#!/usr/bin/env node
/**
 * `npm run bench:qsub`: the wall time of qsub, qstat and qdel, as a workflow engine pays it once
 * per job (and per poll). N sequential `qsub -terse -h -b y /bin/true` calls against an embedded
 * qfarm farm (a real master and one agent; the jobs are held, so nothing runs), then N `qstat`
 * and N `qdel JOB`; in the same run as many calls of real SGE's /usr/bin/qsub, qstat and qdel
 * when SGE is installed and its qmaster answers (../shared/peers/sge/setup.sh), and of
 * `node -e 0`. Prints the medians (and p90) and their ratios. Alternates qfarm and SGE, call by
 * call, so machine load affects both alike.
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

const sgeEnv = { ...process.env, SGE_ROOT: process.env['SGE_ROOT'] ?? '/var/lib/gridengine', SGE_CELL: process.env['SGE_CELL'] ?? 'default' };

/** SGE is usable when its qsub exists and its qmaster answers a qstat. */
function sgeAvailable(): string | null {
  if (!fs.existsSync('/usr/bin/qsub')) return 'SGE is not installed (/usr/bin/qsub missing; run ../shared/peers/sge/setup.sh)';
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

function runSge(verb: string, args: string[]): string {
  const res = spawnSync(`/usr/bin/${verb}`, args, { env: sgeEnv, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`SGE's ${verb} failed (${res.status}): ${res.stderr}`);
  return res.stdout.trim();
}

/** The times of one verb, qfarm's and SGE's, taken call by call in turn. */
interface VerbTimes {
  verb: string;
  ours: number[];
  theirs: number[];
}

function report(times: VerbTimes, sgeProblem: string | null): void {
  const q = stats(times.ours);
  process.stdout.write(`qfarm ${times.verb}:    median ${q.median.toFixed(1)} ms, p90 ${q.p90.toFixed(1)} ms\n`);
  if (sgeProblem) return;
  const s = stats(times.theirs);
  process.stdout.write(`SGE 8.1.9 ${times.verb}: median ${s.median.toFixed(1)} ms, p90 ${s.p90.toFixed(1)} ms\n`);
  process.stdout.write(`ratio qfarm/SGE ${times.verb} (medians): ${(q.median / s.median).toFixed(2)}\n`);
}

async function main(): Promise<void> {
  const calls = parseCalls(process.argv.slice(2));
  const sgeProblem = sgeAvailable();
  const os = await import('node:os');
  process.stdout.write(`qsub/qstat/qdel latency: ${calls} sequential calls each, ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(2)}\n`);
  const farm = new EmbeddedFarm();
  const qsub: VerbTimes = { verb: 'qsub', ours: [], theirs: [] };
  const qstat: VerbTimes = { verb: 'qstat', ours: [], theirs: [] };
  const qdel: VerbTimes = { verb: 'qdel', ours: [], theirs: [] };
  const nodeAlone: number[] = [];
  const extraCas = process.env['NODE_EXTRA_CA_CERTS'];
  const withoutExtraCas = { ...process.env };
  delete withoutExtraCas['NODE_EXTRA_CA_CERTS'];
  const nodeWithoutExtraCas: number[] = [];
  const ourJobs: string[] = [];
  const sgeJobs: string[] = [];
  const args = ['-terse', '-h', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', '/bin/true'];
  try {
    await farm.start(1, 1);
    farm.run('qsub', args); // warm the file cache once, for both alike
    if (!sgeProblem) sgeJobs.push(runSge('qsub', args));
    // qsub once per job, as a workflow engine submits; Node's own start-up beside it.
    for (let i = 0; i < calls; i++) {
      const ours = timed(() => farm.run('qsub', args));
      qsub.ours.push(ours.ms);
      ourJobs.push(ours.out.trim());
      nodeAlone.push(timed(() => String(spawnSync(process.execPath, ['-e', '0']).status)).ms);
      if (extraCas) nodeWithoutExtraCas.push(timed(() => String(spawnSync(process.execPath, ['-e', '0'], { env: withoutExtraCas }).status)).ms);
      if (sgeProblem) continue;
      const sge = timed(() => runSge('qsub', args));
      qsub.theirs.push(sge.ms);
      sgeJobs.push(sge.out);
    }
    // qstat as engines poll it: the listing, now holding the jobs just submitted.
    for (let i = 0; i < calls; i++) {
      qstat.ours.push(timed(() => farm.run('qstat', [])).ms);
      if (!sgeProblem) qstat.theirs.push(timed(() => runSge('qstat', [])).ms);
    }
    // qdel one job per call, as an engine cancels.
    for (let i = 0; i < calls; i++) {
      qdel.ours.push(timed(() => farm.run('qdel', [ourJobs[i]!])).ms);
      if (!sgeProblem) qdel.theirs.push(timed(() => runSge('qdel', [sgeJobs.pop()!])).ms);
    }
  } finally {
    if (sgeJobs.length > 0) spawnSync('/usr/bin/qdel', sgeJobs, { env: sgeEnv, stdio: 'ignore' });
    await farm.stop();
  }
  process.stdout.write(`node -e 0:     median ${stats(nodeAlone).median.toFixed(1)} ms (Node's own start-up, in the same run)\n`);
  // bin/<verb> keeps NODE_EXTRA_CA_CERTS from Node's start-up (cli/deferred-ca.ts); say what that saves here.
  if (extraCas) process.stdout.write(`               median ${stats(nodeWithoutExtraCas).median.toFixed(1)} ms without NODE_EXTRA_CA_CERTS=${extraCas} (Node parses it at start-up; qfarm's verbs defer it)\n`);
  for (const times of [qsub, qstat, qdel]) report(times, sgeProblem);
  if (sgeProblem) process.stdout.write(`SGE:           not measured: ${sgeProblem}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:qsub failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
