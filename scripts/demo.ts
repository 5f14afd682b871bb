#!/usr/bin/env node
/**
 * `npm run demo`: the embedded farm end to end. Starts a master and two local agents (the same
 * `qfarm up` a person runs), submits an array job with qsub, shows progress while it runs, then
 * lists the results with qstat/qacct and the tasks' output files. Everything lives in a fresh
 * QFARM_HOME under /tmp (printed), so it never touches ~/.qfarm.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = (verb: string): string => path.join(root, 'bin', verb);
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-demo-'));
const work = path.join(home, 'work');
fs.mkdirSync(work);
const env: NodeJS.ProcessEnv = { ...process.env, QFARM_HOME: home };
delete env['QFARM_MASTER'];
delete env['QFARM_TOKEN'];

function run(verb: string, args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const res = spawnSync(bin(verb), args, { cwd: work, env, input, encoding: 'utf8' });
  return { code: res.status ?? 1, stdout: res.stdout, stderr: res.stderr };
}

function say(text: string): void {
  process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);
}

async function main(): Promise<void> {
  say(`starting an embedded farm: master + 2 local agents (QFARM_HOME=${home})`);
  const farm = spawn(bin('qfarm'), ['up', '--agents', '2', '--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'inherit', 'pipe'] });
  let farmErr = '';
  farm.stderr.setEncoding('utf8');
  const ready = new Promise<void>((resolve, reject) => {
    farm.stderr.on('data', (chunk: string) => {
      farmErr += chunk;
      process.stderr.write(chunk);
      if (farmErr.includes('Ctrl-C stops them')) resolve();
    });
    farm.on('exit', (code) => reject(new Error(`qfarm up exited with code ${code}:\n${farmErr}`)));
  });
  await ready;
  try {
    await waitForHosts(2);
    say('qhost');
    process.stdout.write(run('qhost', []).stdout);

    const script = [
      '#!/bin/sh',
      '#$ -N primes',
      '#$ -cwd',
      '#$ -t 1-24',
      '# Each task counts the primes in its own block of 20,000 numbers: [1, 20000], [20001, 40000], ...',
      'lo=$(( (SGE_TASK_ID - 1) * 20000 + 1 )); hi=$(( SGE_TASK_ID * 20000 ))',
      'count=$(seq "$lo" "$hi" | factor | awk "NF == 2" | wc -l)',
      'echo "task $SGE_TASK_ID on $HOSTNAME: $count primes in [$lo, $hi]"',
      '',
    ].join('\n');
    say('qsub: a 24-task array job from a script with #$ directives');
    process.stdout.write(script.split('\n').map((l) => `    ${l}`).join('\n') + '\n');
    const sub = run('qsub', [], script);
    process.stdout.write(sub.stdout);
    if (sub.code !== 0) throw new Error(`qsub failed: ${sub.stderr}`);
    const jobId = Number(/job-array (\d+)/.exec(sub.stdout)![1]);

    say('progress (qstat while it runs)');
    await showProgress(jobId, 24);

    say(`qacct -j ${jobId} (first task)`);
    process.stdout.write(run('qacct', ['-j', String(jobId)]).stdout.split('==============================================================').slice(0, 2).join('=============================================================='));

    say('results: the tasks\' output files');
    let total = 0;
    for (let task = 1; task <= 24; task++) {
      const text = fs.readFileSync(path.join(work, `primes.o${jobId}.${task}`), 'utf8');
      total += Number(/: (\d+) primes/.exec(text)?.[1] ?? 0);
      if (task <= 3 || task === 24) process.stdout.write(text);
      if (task === 4) process.stdout.write('    ...\n');
    }
    // π(480000) = 40005: the blocks must tile the range exactly (an earlier version skipped k·20000+1).
    process.stdout.write(`primes up to ${24 * 20000}: ${total}${total === 40005 ? ' (correct)' : ' (WRONG: there are 40005)'}\n`);
    if (total !== 40005) throw new Error(`the array job counted ${total} primes up to 480000, not 40005`);
    say(`done; output files in ${work}`);

    say('render: a short Blender animation on the same farm');
    if (spawnSync('sh', ['-c', 'command -v blender'], { encoding: 'utf8' }).status !== 0) {
      process.stdout.write('blender is not on PATH, so the render part is skipped. Install it with:\n    sudo apt-get install -y blender\nthen run npm run demo again (or npm run demo:render against a running farm).\n');
    } else {
      const render = spawnSync(process.execPath, [path.join(root, 'dist', 'scripts', 'demo-render.js'), '6'], { cwd: work, env, stdio: 'inherit' });
      if (render.status !== 0) throw new Error(`the render demo failed with exit code ${render.status}`);
    }
  } finally {
    farm.kill('SIGTERM');
    await new Promise((r) => farm.on('exit', r));
  }
}

async function waitForHosts(n: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const out = run('qhost', []).stdout;
    const online = out.split('\n').slice(3).filter((l) => l.trim() && !/\s-\s+-\s+-\s*$/.test(l)).length;
    if (online >= n) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('agents did not come online within 30 s');
}

async function showProgress(jobId: number, total: number): Promise<void> {
  const started = Date.now();
  for (;;) {
    const rows = run('qstat', []).stdout.split('\n').filter((l) => l.trim().startsWith(`${jobId} `));
    const running = rows.filter((l) => / r /.test(l)).length;
    const acct = run('qacct', ['-j', String(jobId)]);
    const done = acct.code === 0 ? (acct.stdout.match(/^jobnumber/gm) ?? []).length : 0;
    const width = 30;
    const filled = Math.round((done / total) * width);
    process.stdout.write(`\r  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} done, ${running} running, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (rows.length === 0 && done === total) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  process.stdout.write('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});
