import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, TestFarm, type RunResult } from '../helpers/farm.js';

// Debian's Snakemake 7, unmodified, drives a real genomics pipeline (bwa, samtools, bcftools) on a
// real farm through SGE's verbs only: `--cluster "qsub ... -terse"`, `--cluster-status` with our
// status script, `--cluster-cancel qdel`. scripts/install-test-deps.sh installs the tools.

const FIXTURES = path.join(ROOT, 'test', 'fixtures');
const STATUS_SCRIPT = path.join(ROOT, 'scripts', 'snakemake', 'qfarm-status');
const PROFILE = path.join(ROOT, 'scripts', 'snakemake', 'qfarm');
const TOOLS = ['snakemake', 'bwa', 'samtools', 'bcftools'];
// The pipeline: index_reference, align ×3, sort_index ×3, call_region ×2, gather.
const PIPELINE_JOBS = 10;

interface KnownSnp {
  contig: string;
  pos: number;
  ref: string;
  alt: string;
  carriers: string[];
}

function knownSnps(): KnownSnp[] {
  const lines = fs.readFileSync(path.join(FIXTURES, 'genomics', 'truth.tsv'), 'utf8').split('\n');
  return lines
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [contig, pos, ref, alt, carriers] = l.split('\t') as [string, string, string, string, string];
      return { contig, pos: Number(pos), ref, alt, carriers: carriers.split(',') };
    });
}

/** A fresh copy of the workflow (Snakefile + config next to the data, as in the repo). */
function workflowCopy(farm: TestFarm, name: string): string {
  const base = path.join(farm.work, name);
  fs.cpSync(path.join(FIXTURES, 'genomics'), path.join(base, 'genomics'), { recursive: true });
  fs.cpSync(path.join(FIXTURES, 'snakemake'), path.join(base, 'snakemake'), { recursive: true });
  return path.join(base, 'snakemake');
}

/**
 * A copy of the first subtest's finished pipeline (timestamps kept, so Snakemake sees it as up to
 * date): a changed `fail_region` then reruns only the two call_region jobs (Snakemake's params
 * trigger), which keeps the failure subtests short. Undefined when that pipeline did not finish.
 */
function finishedPipelineCopy(farm: TestFarm, name: string): string | undefined {
  const finished = path.join(farm.work, 'pipeline');
  if (!fs.existsSync(path.join(finished, 'snakemake', 'results', 'calls.vcf.gz.csi'))) return undefined;
  fs.cpSync(finished, path.join(farm.work, name), { recursive: true, preserveTimestamps: true });
  return path.join(farm.work, name, 'snakemake');
}

/** Runs a program to its end (killed after `timeoutMs`), output captured. */
function runProgram(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number; onOutput?: (text: string) => void },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      options.onOutput?.(stdout + stderr);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      options.onOutput?.(stdout + stderr);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? -1 : 0), stdout, stderr: signal ? `${stderr}\n[killed by ${signal} after ${options.timeoutMs} ms]` : stderr });
    });
  });
}

/** Snakemake's environment: the farm's (PATH has qsub & co., QFARM_HOME the farm). */
function snakemakeEnv(farm: TestFarm): NodeJS.ProcessEnv {
  // Snakemake 7 sleeps 10 s between rounds of status checks unless CI=true (then 1 s); with five
  // dependent levels that alone would cost a minute.
  return { ...farm.env, CI: 'true' };
}

/** Snakemake's `Submitted job N with external jobid 'ID'.` lines: rule job id → qfarm job id. */
function externalIds(log: string): Map<number, number> {
  return new Map([...log.matchAll(/Submitted job (\d+) with external jobid '(\d+)'\./g)].map((m) => [Number(m[1]), Number(m[2])]));
}

async function accounting(farm: TestFarm, jobId: number): Promise<{ exitStatus: string; failed: string; slots: string }> {
  const res = await farm.run('qacct', ['-j', String(jobId)]);
  if (res.code !== 0) throw new Error(`qacct -j ${jobId} failed (${res.code}): ${res.stderr}`);
  const field = (name: string): string => new RegExp(`^${name}\\s+(.*?)\\s*$`, 'm').exec(res.stdout)?.[1] ?? '';
  return { exitStatus: field('exit_status'), failed: field('failed'), slots: field('slots') };
}

function bcftoolsQuery(vcf: string): string[] {
  const res = spawnSync('bcftools', ['query', '-i', 'QUAL>=30', '-f', '%CHROM\t%POS\t%REF\t%ALT[\t%SAMPLE=%GT]\n', vcf], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`bcftools query ${vcf} failed (${res.status}): ${res.stderr}`);
  return res.stdout.split('\n').filter(Boolean);
}

t.test('Snakemake runs a genomics pipeline on qfarm through the SGE verbs', async (t) => {
  const missing = TOOLS.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (missing.length > 0) {
    t.fail(`missing ${missing.join(', ')}: run scripts/install-test-deps.sh (npm test does)`);
    return;
  }
  const farm = await TestFarm.start(t, { agents: 2, slots: 2 });
  const snps = knownSnps();
  const samples = ['alpha', 'beta', 'gamma'];

  t.test('scatter/gather pipeline with an SGE user\'s command line: outputs and the known SNPs', async (t) => {
    const cwd = workflowCopy(farm, 'pipeline');
    const res = await runProgram(
      'snakemake',
      [
        '--cluster', 'mkdir -p logs && qsub -cwd -V -terse -pe smp {threads} -o logs/ -e logs/',
        '--cluster-status', STATUS_SCRIPT,
        '--cluster-cancel', 'qdel',
        '--jobs', '4',
        '--latency-wait', '10',
        '--printshellcmds',
      ],
      { cwd, env: snakemakeEnv(farm), timeoutMs: 120_000 },
    );
    const log = res.stdout + res.stderr;
    t.equal(res.code, 0, 'snakemake succeeds', { log: log.slice(-4000) });
    t.match(log, /\b11 of 11 steps \(100%\) done/);

    const ids = externalIds(log);
    t.equal(ids.size, PIPELINE_JOBS, 'every rule but `all` was submitted as its own qfarm job');
    for (const [ruleJob, jobId] of ids) {
      const acct = await accounting(farm, jobId);
      t.same({ exitStatus: acct.exitStatus, failed: acct.failed }, { exitStatus: '0', failed: '0' }, `job ${jobId} (Snakemake job ${ruleJob}) accounted as a success`);
    }
    // align declares `threads: 2`, submitted with -pe smp {threads}: qfarm granted 2 slots.
    const alignJobs = [...log.matchAll(/rule align:[\s\S]*?Submitted job \d+ with external jobid '(\d+)'/g)].map((m) => Number(m[1]));
    t.equal(alignJobs.length, samples.length, 'one align job per sample');
    for (const jobId of alignJobs) t.equal((await accounting(farm, jobId)).slots, '2', `align job ${jobId} ran on 2 slots`);

    // SGE's default output names in the -o/-e directory: <script name>.o<job id>.
    const logFiles = fs.readdirSync(path.join(cwd, 'logs'));
    for (const jobId of ids.values()) {
      t.ok(logFiles.some((f) => f.endsWith(`.o${jobId}`)) && logFiles.some((f) => f.endsWith(`.e${jobId}`)), `logs/ has job ${jobId}'s stdout and stderr`);
    }

    for (const sample of samples) {
      t.ok(fs.statSync(path.join(cwd, 'results', 'sorted', `${sample}.bam.bai`)).size > 0, `${sample}: sorted, indexed BAM`);
    }
    for (const contig of ['chr1', 'chr2']) t.ok(fs.existsSync(path.join(cwd, 'results', 'calls', `${contig}.vcf.gz.csi`)), `${contig}: region calls`);
    const calls = bcftoolsQuery(path.join(cwd, 'results', 'calls.vcf.gz'));
    const expected = snps.map((s) => [s.contig, s.pos, s.ref, s.alt, ...samples.map((x) => `${x}=${s.carriers.includes(x) ? '1/1' : '0/0'}`)].join('\t'));
    t.same(calls, expected, 'the gathered VCF holds exactly the known SNPs (QUAL >= 30) with each sample\'s genotype');
  });

  t.test('a failing rule is reported failed by Snakemake (profile, --keep-going); the independent job completes', async (t) => {
    const cwd = finishedPipelineCopy(farm, 'failing');
    if (!cwd) return void t.fail('needs the finished pipeline of the first subtest');
    const res = await runProgram(
      'snakemake',
      ['--profile', PROFILE, '--jobs', '4', '--latency-wait', '10', '--keep-going', '--config', 'fail_region=chr2'],
      { cwd, env: snakemakeEnv(farm), timeoutMs: 120_000 },
    );
    const log = res.stdout + res.stderr;
    t.not(res.code, 0, 'snakemake exits non-zero');
    const error = /Error in rule call_region:\n(?:.*\n)*?\s+cluster_jobid: (\d+)/.exec(log);
    t.ok(error, 'Snakemake names the failed rule and its cluster job id', { log: log.slice(-4000) });
    t.match(log, /Error in rule call_region:\n(?:.*\n)*?\s+output: results\/calls\/chr2\.vcf\.gz/, 'and the failed region');
    t.match(log, /Exiting because a job execution failed/, 'Snakemake says why it stopped');
    t.notMatch(log, /Error in rule (?!call_region)/, 'no other rule failed');
    t.equal(externalIds(log).size, 2, 'both regions were resubmitted, nothing else');
    const failedJob = Number(error?.[1]);
    const acct = await accounting(farm, failedJob);
    t.equal(acct.exitStatus, '1', 'qacct has the rule\'s exit status');
    // The profile names jobs smk.<rule>: the rule's stderr is where an SGE user looks.
    t.match(fs.readFileSync(path.join(cwd, 'logs', `smk.call_region.e${failedJob}`), 'utf8'), /failing region chr2 on purpose/, 'the rule\'s stderr is in logs/smk.call_region.e<job>');

    t.match(log, /rule call_region:\n(?:.*\n)*?\s+wildcards: region=chr1\n/, 'the other region was rerun');
    t.ok(fs.existsSync(path.join(cwd, 'results', 'calls', 'chr1.vcf.gz.csi')), 'and called');
    t.notOk(fs.existsSync(path.join(cwd, 'results', 'calls', 'chr2.vcf.gz')), 'Snakemake removed the failed job\'s output');
    t.notMatch(log, /rule gather:/, 'nothing gathered');
  });

  t.test('--cluster-sync "qsub -sync y": qsub\'s exit status (the job\'s) reports the failing rule', async (t) => {
    const cwd = finishedPipelineCopy(farm, 'sync');
    if (!cwd) return void t.fail('needs the finished pipeline of the first subtest');
    const res = await runProgram(
      'snakemake',
      ['--cluster-sync', 'mkdir -p logs && qsub -sync y -cwd -V -o logs/ -e logs/', '--jobs', '4', '--latency-wait', '10', '--keep-going', '--config', 'fail_region=chr1'],
      { cwd, env: snakemakeEnv(farm), timeoutMs: 120_000 },
    );
    const log = res.stdout + res.stderr;
    t.not(res.code, 0, 'snakemake exits non-zero');
    t.match(log, /Error in rule call_region:\n(?:.*\n)*?\s+output: results\/calls\/chr1\.vcf\.gz/, 'Snakemake names the failed rule and region', { log: log.slice(-4000) });
    t.notMatch(log, /Error in rule (?!call_region)/, 'no other rule failed');
    t.match(log, /rule call_region:\n(?:.*\n)*?\s+wildcards: region=chr2\n/, 'the other region was rerun');
    t.ok(fs.existsSync(path.join(cwd, 'results', 'calls', 'chr2.vcf.gz.csi')), 'and called');
    t.notOk(fs.existsSync(path.join(cwd, 'results', 'calls', 'chr1.vcf.gz')), 'Snakemake removed the failed job\'s output');
    t.notMatch(log, /rule gather:/, 'nothing gathered');
    // SGE's default names: <script>.e<job>; the failed job's stderr holds the rule's message.
    const errFiles = fs.readdirSync(path.join(cwd, 'logs')).filter((f) => f.startsWith('snakejob.call_region.') && /\.e\d+$/.test(f));
    t.ok(errFiles.some((f) => /failing region chr1 on purpose/.test(fs.readFileSync(path.join(cwd, 'logs', f), 'utf8'))), 'the rule\'s stderr is in logs/', { errFiles });
  });

  t.test('--cluster-cancel qdel: an interrupted Snakemake deletes its running jobs', async (t) => {
    const cwd = workflowCopy(farm, 'cancel');
    let submitted: number | undefined;
    let child: ReturnType<typeof spawn> | undefined;
    const done = new Promise<RunResult>((resolve, reject) => {
      child = spawn('snakemake', ['-s', 'cancel.smk', '--profile', PROFILE, '--jobs', '1'], { cwd, env: snakemakeEnv(farm), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      const onData = (c: string): void => {
        out += c;
        submitted ??= [...externalIds(out).values()][0];
      };
      child.stdout!.setEncoding('utf8').on('data', onData);
      child.stderr!.setEncoding('utf8').on('data', onData);
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout: out, stderr: '' }));
    });
    const timer = setTimeout(() => child?.kill('SIGKILL'), 90_000);
    t.teardown(() => clearTimeout(timer));
    await farm.waitFor(() => submitted !== undefined, 60_000, 'Snakemake to submit the sleeper');
    const jobId = submitted!;
    const runningLine = new RegExp(`^\\s*${jobId} .* r +\\d`, 'm');
    await farm.waitFor(async () => runningLine.test((await farm.run('qstat', [])).stdout), 30_000, `job ${jobId} to run`);
    child!.kill('SIGINT');
    const res = await done;
    t.not(res.code, 0, 'interrupted Snakemake exits non-zero');
    t.notMatch(res.stdout, /calls to --cluster-cancel failed/, 'qdel answered within Snakemake\'s 2 s', { log: res.stdout.slice(-3000) });
    await farm.waitForJob(jobId, 15_000);
    const acct = await accounting(farm, jobId);
    t.not(acct.exitStatus, '0', `the deleted job is accounted as killed (exit_status ${acct.exitStatus}, failed ${acct.failed})`);
  });

  t.test('the status script maps qstat/qacct to running, success, failed', async (t) => {
    const status = (id: string, env: NodeJS.ProcessEnv = {}): Promise<RunResult> =>
      runProgram(STATUS_SCRIPT, [id], { cwd: farm.work, env: { ...farm.env, ...env }, timeoutMs: 30_000 });
    const ok = await farm.submit(['-cwd', '-b', 'y', 'true']);
    const bad = await farm.submit(['-cwd', '-b', 'y', 'sh', '-c', 'exit 3']);
    const array = (await farm.run('qsub', ['-terse', '-cwd', '-t', '1-2', '-b', 'y', 'sh', '-c', 'exit $((SGE_TASK_ID - 1))'])).stdout.trim();
    const held = await farm.submit(['-cwd', '-h', '-b', 'y', 'true']);
    await farm.waitForJob(ok);
    await farm.waitForJob(bad);
    await farm.waitForJob(Number.parseInt(array, 10));
    t.same(await status(String(ok)), { code: 0, stdout: 'success\n', stderr: '' }, 'exit 0 → success');
    t.same(await status(String(bad)), { code: 0, stdout: 'failed\n', stderr: '' }, 'exit 3 → failed');
    t.same(await status(array), { code: 0, stdout: 'failed\n', stderr: '' }, `array id ${array} with one failed task → failed`);
    t.same(await status(String(held)), { code: 0, stdout: 'running\n', stderr: '' }, 'held (hqw) → running');
    // The qstat listing just cached predates this job: it must be looked up afresh, not failed.
    const fresh = await farm.submit(['-cwd', '-h', '-b', 'y', 'true']);
    t.same(await status(String(fresh)), { code: 0, stdout: 'running\n', stderr: '' }, 'a job newer than the cached qstat listing → running');
    t.equal((await farm.run('qdel', [String(fresh)])).code, 0, 'qdel of the newer job');
    t.equal((await farm.run('qdel', [String(held)])).code, 0, 'qdel of the held job');
    const started = Date.now();
    // (Without the cache, which may still list the job for up to QFARM_STATUS_CACHE seconds.)
    t.same(await status(String(held), { QFARM_STATUS_ACCT_WAIT: '0', QFARM_STATUS_CACHE: '0' }), { code: 0, stdout: 'failed\n', stderr: '' }, 'deleted while pending (no qacct record) → failed');
    t.ok(Date.now() - started < 10_000, 'without waiting for a record when told not to');
    const garbage = await status('Your job 5 ("x") has been submitted');
    t.equal(garbage.code, 1, 'not a job id → exit 1 (Snakemake stops with a clear error)');
    t.match(garbage.stderr, /not a job id.*qsub -terse/, 'and says what to do');
    const down = await status(String(ok), { QFARM_HOME: path.join(farm.home, 'no-such-farm'), QFARM_STATUS_RETRIES: '2' });
    t.equal(down.code, 1, 'farm unreachable → exit 1 after retries, not a made-up status');
    t.equal(down.stdout, '', 'prints no status');
    t.match(down.stderr, /qfarm-status: 'qstat' failed 2 times/, 'names the command that failed');
  });
});
