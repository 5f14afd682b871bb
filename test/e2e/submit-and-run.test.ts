import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';

t.test('jobs run on real agents and leave output where SGE puts it', async (t) => {
  const farm = await TestFarm.start(t, { agents: 2, slots: 1 });

  t.test('binary job: acknowledgement, output file named <name>.o<job> in the working dir', async (t) => {
    const res = await farm.run('qsub', ['-cwd', '-b', 'y', 'echo', 'hello', 'world']);
    t.equal(res.code, 0, res.stderr);
    const m = /^Your job (\d+) \("echo"\) has been submitted\n$/.exec(res.stdout);
    t.ok(m, `acknowledgement as SGE prints it: ${JSON.stringify(res.stdout)}`);
    const jobId = Number(m![1]);
    await farm.waitForJob(jobId);
    t.equal(fs.readFileSync(path.join(farm.work, `echo.o${jobId}`), 'utf8'), 'hello world\n');
    t.equal(fs.readFileSync(path.join(farm.work, `echo.e${jobId}`), 'utf8'), '');
  });

  t.test('array job: one output file per task, SGE task variables set', async (t) => {
    const script = '#!/bin/sh\n#$ -N arr\n#$ -cwd\necho "$JOB_ID $JOB_NAME $SGE_TASK_ID $SGE_TASK_FIRST $SGE_TASK_LAST $SGE_TASK_STEPSIZE $NSLOTS"\necho "tmp=$TMPDIR" >&2\n';
    const res = await farm.run('qsub', ['-t', '2-6:2'], { input: script });
    t.equal(res.code, 0, res.stderr);
    t.match(res.stdout, /^Your job-array (\d+)\.2-6:2 \("arr"\) has been submitted\n$/);
    const jobId = Number(/job-array (\d+)/.exec(res.stdout)![1]);
    await farm.waitForJob(jobId);
    for (const task of [2, 4, 6]) {
      t.equal(fs.readFileSync(path.join(farm.work, `arr.o${jobId}.${task}`), 'utf8'), `${jobId} arr ${task} 2 6 2 1\n`, `task ${task} stdout`);
      t.match(fs.readFileSync(path.join(farm.work, `arr.e${jobId}.${task}`), 'utf8'), /^tmp=\/.+\n$/, `task ${task} has a TMPDIR`);
    }
    t.notOk(fs.existsSync(path.join(farm.work, `arr.o${jobId}.3`)), 'no task outside the step');
  });

  t.test('-o/-e with $JOB_ID and $TASK_ID, -j y joins stderr into stdout', async (t) => {
    const jobId = await farm.submit(['-cwd', '-t', '1-2', '-j', 'y', '-o', 'out.$JOB_ID.$TASK_ID.log', '-b', 'y', 'sh', '-c', 'echo out; echo err >&2']);
    await farm.waitForJob(jobId);
    for (const task of [1, 2]) {
      const text = fs.readFileSync(path.join(farm.work, `out.${jobId}.${task}.log`), 'utf8');
      t.same(text.split('\n').filter(Boolean).sort(), ['err', 'out']);
    }
  });

  t.test('-v and -V pass the environment; -wd sets the working directory', async (t) => {
    const wd = fs.mkdtempSync(path.join(farm.work, 'wd-'));
    const jobId = await farm.submit(['-wd', wd, '-v', 'GREETING=hi there,OTHER=x', '-b', 'y', 'sh', '-c', 'echo "$GREETING/$OTHER/$FROM_V_FLAG/$(pwd)/$SGE_O_WORKDIR"'], {});
    await farm.waitForJob(jobId);
    t.equal(fs.readFileSync(path.join(wd, `sh.o${jobId}`), 'utf8'), `hi there/x//${wd}/${farm.work}\n`);
    // bin/qsub moves NODE_EXTRA_CA_CERTS aside for Node's start-up (cli/deferred-ca.ts): -V still passes it as the user had it.
    const res = await farm.run('qsub', ['-terse', '-cwd', '-V', '-b', 'y', 'sh', '-c', 'echo "$FROM_V_FLAG $NODE_EXTRA_CA_CERTS ${QFARM_DEFERRED_NODE_EXTRA_CA_CERTS-unset}"'], {
      env: { FROM_V_FLAG: 'exported', NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' },
    });
    const second = Number.parseInt(res.stdout, 10);
    await farm.waitForJob(second);
    t.equal(fs.readFileSync(path.join(farm.work, `sh.o${second}`), 'utf8'), 'exported /etc/ssl/certs/ca-certificates.crt unset\n');
  });

  t.test('exit status and a missing command are accounted as SGE does', async (t) => {
    const failing = await farm.submit(['-cwd', '-b', 'y', 'sh', '-c', 'exit 3']);
    const missing = await farm.submit(['-cwd', '-N', 'bad', '-b', 'y', '/no/such/cmd']);
    await farm.waitForJob(failing);
    await farm.waitForJob(missing);
    const acct = await farm.run('qacct', ['-j', String(failing)]);
    t.match(acct.stdout, /\nexit_status\s+3\s*\n/);
    t.match(acct.stdout, /\nfailed\s+0\s*\n/);
    const bad = await farm.run('qacct', ['-j', String(missing)]);
    t.match(bad.stdout, /\nexit_status\s+127\s*\n/);
    t.match(fs.readFileSync(path.join(farm.work, `bad.e${missing}`), 'utf8'), /not found/);
  });

  t.test('qsub -sync y waits and exits with the job\'s exit status', async (t) => {
    const res = await farm.run('qsub', ['-sync', 'y', '-cwd', '-b', 'y', 'sh', '-c', 'exit 5']);
    t.equal(res.code, 5, res.stderr);
    // As real SGE 8.1.9 does: a non-zero exit is reported on stderr, a zero one on stdout.
    const jobId = /^Your job (\d+) \("sh"\) has been submitted\n$/.exec(res.stdout)?.[1];
    t.ok(jobId, res.stdout);
    t.equal(res.stderr, `Job ${jobId} exited with exit code 5.\n`);
    const ok = await farm.run('qsub', ['-sync', 'y', '-cwd', '-b', 'y', 'true']);
    t.equal(ok.code, 0);
    t.match(ok.stdout, /^Your job (\d+) \("true"\) has been submitted\nJob \1 exited with exit code 0\.\n$/);
  });

  t.test('qfarm logs prints a finished task\'s output from the master', async (t) => {
    const jobId = await farm.submit(['-cwd', '-t', '1-2', '-b', 'y', 'sh', '-c', 'echo "log line $SGE_TASK_ID"']);
    await farm.waitForJob(jobId);
    const res = await farm.run('qfarm', ['logs', `${jobId}.2`]);
    t.equal(res.code, 0, res.stderr);
    t.equal(res.stdout, 'log line 2\n');
  });

  t.test('qfarm logs -f streams a running task\'s output live and ends when the task ends', async (t) => {
    const gate = path.join(farm.work, 'logs-gate');
    const jobId = await farm.submit(['-cwd', '-b', 'y', 'sh', '-c', 'echo first; while [ ! -e "$1" ]; do sleep 0.05; done; echo second', 'sh', gate]);
    await farm.waitFor(async () => {
      const res = await farm.run('qfarm', ['logs', String(jobId)]);
      return res.stdout === 'first\n';
    }, 20_000, 'the first line to reach the master');
    const { spawn } = await import('node:child_process');
    const child = spawn('qfarm', ['logs', '-f', String(jobId)], { env: farm.env, cwd: farm.work });
    let seen = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (seen += c));
    const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
    await farm.waitFor(() => seen === 'first\n', 10_000, 'the follower to print what was already there');
    fs.writeFileSync(gate, '');
    t.equal(await exited, 0, 'the follower ends by itself when the task ends');
    t.equal(seen, 'first\nsecond\n', 'and printed the line written while it followed');
  });
});
