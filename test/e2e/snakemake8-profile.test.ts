import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, TestFarm, type RunResult } from '../helpers/farm.js';

/**
 * The Snakemake 8 `cluster-generic` profile (scripts/snakemake/qfarm-v8), its commands run as
 * the plugin runs them, against a real farm: Debian has only Snakemake 7.21, so Snakemake 8
 * itself is not exercised here (docs/snakemake.md says so). The submit command gets the job
 * script appended and must print only the id; the status command maps it to running, success or
 * failed; the cancel command gets ids appended (several at once).
 */

const PROFILE = path.join(ROOT, 'scripts', 'snakemake', 'qfarm-v8');

/** The profile's flat `key: value` lines (what this profile uses of YAML). */
function profile(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(path.join(PROFILE, 'config.yaml'), 'utf8').split('\n')) {
    const m = /^([a-z-]+): (.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
  }
  return out;
}

function sh(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

t.test('the Snakemake 8 profile submits, follows and cancels jobs on a real farm', async (t) => {
  const config = profile();
  t.equal(config['executor'], 'cluster-generic');
  t.same(config['cluster-generic-submit-cmd'], profile7Cluster(), 'the same qsub line as the Snakemake 7 profile');
  const farm = await TestFarm.start(t, { agents: 1, slots: 2 });
  const cwd = path.join(farm.work, 'workflow');
  fs.mkdirSync(cwd);
  // As the plugin does: the rule's placeholders filled in, the job script's path appended.
  const submitCmd = (rule: string, script: string): string => `${config['cluster-generic-submit-cmd']!.replace('{threads}', '2').replace('{rule}', rule)} ${script}`;
  // The status command, resolved in the profile's directory as Snakemake resolves it.
  const statusCmd = path.join(PROFILE, config['cluster-generic-status-cmd']!);
  t.ok(fs.statSync(statusCmd).mode & 0o111, 'the status command ships executable beside the profile');
  t.equal(fs.readFileSync(statusCmd, 'utf8'), fs.readFileSync(path.join(ROOT, 'scripts', 'snakemake', 'qfarm-status'), 'utf8'), 'the same script as scripts/snakemake/qfarm-status');
  const env = { ...farm.env, QFARM_STATUS_CACHE: '0' };
  fs.writeFileSync(path.join(cwd, 'ok.sh'), '#!/bin/sh\necho "rule ok ran with $NSLOTS slots"\n');
  fs.writeFileSync(path.join(cwd, 'slow.sh'), '#!/bin/sh\nsleep 300\n');
  const status = async (id: string): Promise<string> => (await sh(`${statusCmd} ${id}`, cwd, env)).stdout.trim();

  const ok = await sh(submitCmd('align', 'ok.sh'), cwd, env);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /^\d+\n$/, 'only the job id on stdout');
  const okId = ok.stdout.trim();
  await farm.waitForJob(Number(okId), 30_000);
  t.equal(await status(okId), 'success');
  t.equal(fs.readFileSync(path.join(cwd, 'logs', `smk.align.o${okId}`), 'utf8'), 'rule ok ran with 2 slots\n', 'output in logs/, the rule named');

  const slow = [await sh(submitCmd('sort', 'slow.sh'), cwd, env), await sh(submitCmd('sort', 'slow.sh'), cwd, env)].map((r) => r.stdout.trim());
  t.equal(await status(slow[0]!), 'running');
  const cancel = await sh(`${config['cluster-generic-cancel-cmd']} ${slow.join(' ')}`, cwd, env);
  t.equal(cancel.code, 0, cancel.stderr);
  for (const id of slow) {
    await farm.waitForJob(Number(id), 30_000);
    t.equal(await status(id), 'failed', `cancelled job ${id} is failed for Snakemake`);
  }
});

function profile7Cluster(): string {
  const line = fs.readFileSync(path.join(ROOT, 'scripts', 'snakemake', 'qfarm', 'config.yaml'), 'utf8').split('\n').find((l) => l.startsWith('cluster: '))!;
  return JSON.parse(line.slice('cluster: '.length)) as string;
}
