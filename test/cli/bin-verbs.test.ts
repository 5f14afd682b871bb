process.env.TZ = 'UTC';

import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import type { JobSubmission } from '../../protocol/job-spec.js';
import { ensureBuilt, repoRoot, runBin } from './built-cli.js';
import { DROP_CONNECTION, startFakeApi, type SeenRequest } from './fake-api.js';

let waits = 0;
/** A job the master still describes although it has finished (it has no qstat line). */
const finishedJob = {
  jobId: 5, name: 'done', submitter: { user: 'root', uid: 0, gid: 0, group: 'root', home: '/root' }, submitHost: 'vm', submitTime: 0,
  command: { kind: 'binary', argv: ['true'] }, shell: '/bin/sh', cwd: '/root', submitCwd: '/root', stdoutPath: null, stderrPath: null,
  joinOutput: false, env: {}, array: null, hold: false, waitingFor: [], holdJobs: [], priority: 0, queue: null, slots: 1,
  resources: { other: {} }, pty: false, deleted: false, tasks: [], schedulingInfo: [],
};
function answer(req: SeenRequest): { status?: number; body: unknown } {
  const url = new URL(req.url, 'http://x');
  if (req.authorization !== 'Bearer test-token') return { status: 401, body: { error: 'bad token' } };
  if (req.method === 'POST' && url.pathname === '/api/v1/jobs') {
    const sub = req.body as JobSubmission;
    if (sub.queue === 'nosuch') return { status: 400, body: { error: 'job rejected: queue "nosuch" does not exist', hint: 'see qhost for the groups' } };
    return { body: { jobId: 7, name: sub.name, ...(sub.array ? { array: sub.array } : {}) } };
  }
  if (url.pathname === '/api/v1/jobs/7/wait') {
    waits++;
    if (waits === 1) return { body: { jobId: 7, finished: false, tasks: [] } };
    if (waits === 2) return { status: DROP_CONNECTION, body: '' };
    return { body: { jobId: 7, finished: true, tasks: [{ taskId: null, exitStatus: 3, failedCode: 0, deleted: false }] } };
  }
  if (url.pathname === '/api/v1/jobs') {
    return { body: { rows: [{ jobId: 6, prior: 0.5, name: 'sleeper', owner: 'root', state: 'r', time: Date.UTC(2026, 10, 23, 7, 8, 39), queue: 'all.q@vm', slots: 1, tasks: '' }] } };
  }
  if (url.pathname === '/api/v1/jobs/999') return { body: { jobs: [], missing: ['999'] } };
  if (url.pathname === '/api/v1/jobs/5') return { body: { jobs: [finishedJob], missing: [] } };
  // A current master says per job whether qstat lists it.
  if (url.pathname === '/api/v1/jobs/15') return { body: { jobs: [{ ...finishedJob, jobId: 15, listed: false }], missing: [] } };
  if (url.pathname === '/api/v1/jobs/16') return { body: { jobs: [{ ...finishedJob, jobId: 16, name: 'queued', listed: true }], missing: [] } };
  if (url.pathname === '/api/v1/jobs/delete') {
    return { body: { messages: [{ ok: true, text: 'root has deleted job 8' }, { ok: false, text: 'denied: job "999" does not exist' }] } };
  }
  if (url.pathname === '/api/v1/accounting') return { body: { records: [] } };
  if (url.pathname === '/api/v1/jobs/alter') return { body: { messages: [{ ok: true, text: 'modified job 8' }] } };
  if (url.pathname === '/api/v1/jobs/hold' || url.pathname === '/api/v1/jobs/release') {
    return { body: { messages: [{ ok: false, text: 'denied: job "999" does not exist' }] } };
  }
  return { status: 404, body: { error: `no route ${req.url}` } };
}

const execFileAsync = promisify(execFile);

t.before(ensureBuilt);

t.test('bin/ verbs against a fake master', async (t) => {
  const api = await startFakeApi(answer);
  t.teardown(api.close);
  const home = await mkdtemp(path.join(os.tmpdir(), 'qfarm-bin-'));
  t.teardown(() => rm(home, { recursive: true, force: true }));
  await writeFile(path.join(home, 'master.json'), JSON.stringify({ url: api.url, pid: 1 }));
  await writeFile(path.join(home, 'api-token'), 'test-token\n');
  const env = { QFARM_HOME: home, QFARM_MASTER: '', QFARM_TOKEN: '' };
  const posts = (): JobSubmission[] => api.seen.filter((r) => r.method === 'POST' && r.url === '/api/v1/jobs').map((r) => r.body as JobSubmission);

  t.test('qsub -terse prints only the id', async (t) => {
    const r = await runBin('qsub', ['-terse', '-b', 'y', '/bin/true'], env);
    t.same(r, { code: 0, stdout: '7\n', stderr: '' });
    const sub = posts().at(-1)!;
    t.same(sub.command, { kind: 'binary', argv: ['/bin/true'] });
    t.equal(sub.name, 'true');
    const array = await runBin('qsub', ['-terse', '-b', 'y', '-t', '1-10', '/bin/true'], env);
    t.same(array, { code: 0, stdout: '7.1-10:1\n', stderr: '' });
    const stepped = await runBin('qsub', ['-terse', '-b', 'y', '-t', '1-10:2', '/bin/true'], env);
    t.same(stepped, { code: 0, stdout: '7.1-10:2\n', stderr: '' }, 'the range is echoed as requested, as SGE does');
  });

  t.test('bin/ verbs find dist/ through a symlink (as in /usr/local/bin) and when called by bare name', async (t) => {
    const linkDir = await mkdtemp(path.join(os.tmpdir(), 'qfarm-bin-link-'));
    t.teardown(() => rm(linkDir, { recursive: true, force: true }));
    await symlink(path.join(repoRoot, 'bin', 'qsub'), path.join(linkDir, 'qsub'));
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete childEnv.NODE_OPTIONS;
    const viaLink = await execFileAsync(path.join(linkDir, 'qsub'), ['-terse', '-b', 'y', '/bin/true'], { env: childEnv });
    t.equal(viaLink.stdout, '7\n');
    const bareName = await execFileAsync('sh', ['qsub', '-terse', '-b', 'y', '/bin/true'], { env: childEnv, cwd: path.join(repoRoot, 'bin') });
    t.equal(bareName.stdout, '7\n');
  });

  t.test('qsub acknowledges as SGE does', async (t) => {
    t.equal((await runBin('qsub', ['-b', 'y', '/bin/true'], env)).stdout, 'Your job 7 ("true") has been submitted\n');
    t.equal((await runBin('qsub', ['-b', 'y', '-t', '1-10', '/bin/true'], env)).stdout, 'Your job-array 7.1-10:1 ("true") has been submitted\n');
  });

  t.test('qsub reads a script from stdin with its #$ lines', async (t) => {
    const r = await runBin('qsub', ['-p', '3'], env, '#!/bin/sh\n#$ -N fromdirective\n#$ -p 1 -j y\nsleep 1\n');
    t.equal(r.stdout, 'Your job 7 ("fromdirective") has been submitted\n');
    const sub = posts().at(-1)!;
    t.match(sub.command, { kind: 'script', scriptName: 'STDIN', script: /sleep 1/ });
    t.equal(sub.priority, 3, 'the command line wins over the script');
    t.equal(sub.joinOutput, true);
  });

  t.test('qsub reads ./.sge_request first, below the command line', async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'qfarm-req-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, '.sge_request'), '# defaults\n-N fromrequest -p 2\n-cwd\n');
    await writeFile(path.join(home, 'sge_request'), '-N fromfarm -q farmq\n');
    t.teardown(() => rm(path.join(home, 'sge_request'), { force: true }));
    const r = await runBin('qsub', ['-p', '4', '-b', 'y', 'true'], env, undefined, dir);
    t.equal(r.stdout, 'Your job 7 ("fromrequest") has been submitted\n');
    const sub = posts().at(-1)!;
    t.equal(sub.priority, 4);
    t.equal(sub.cwd, dir);
    t.equal(sub.queue, 'farmq', 'QFARM_HOME/sge_request is the farm-wide default file');
  });

  t.test('qsub with a bad option fails before contacting the master', async (t) => {
    const before = api.seen.length;
    const r = await runBin('qsub', ['-foo', '-b', 'y', 'true'], env);
    t.equal(r.code, 2);
    t.equal(r.stdout, '');
    t.match(r.stderr, /^qsub: invalid option argument "-foo"\nhint: run 'qsub -help'/);
    const missing = await runBin('qsub', ['/no/such/file'], env);
    t.equal(missing.code, 14);
    t.match(missing.stderr, /^Unable to read script file because of error: error opening \/no\/such\/file: No such file or directory\n/);
    const empty = await runBin('qsub', [], env, '');
    t.equal(empty.code, 4);
    t.match(empty.stderr, /^Unable to read script file because of error: no input read from stdin\n/);
    const unsupported = await runBin('qsub', ['-M', 'a@b', '-b', 'y', 'true'], env);
    t.equal(unsupported.code, 1);
    t.match(unsupported.stderr, /^qsub: option "-M" is not supported by qfarm yet\n/);
    t.equal(api.seen.length, before);
  });

  t.test('qsub reports a rejection as SGE does', async (t) => {
    const r = await runBin('qsub', ['-q', 'nosuch', '-b', 'y', 'true'], env);
    t.equal(r.code, 1);
    t.match(r.stderr, /^Unable to run job: job rejected: queue "nosuch" does not exist\nExiting\.\nhint: see qhost for the groups\n$/);
  });

  t.test('qsub -sync y waits and exits with the job\'s status', async (t) => {
    const r = await runBin('qsub', ['-sync', 'y', '-b', 'y', 'false'], env);
    t.equal(r.stdout, 'Your job 7 ("false") has been submitted\n');
    t.match(r.stderr, /^qsub: lost contact with the qfarm master \(connection reset\); still waiting for job 7\nJob 7 exited with exit code 3\.\n$/, 'a dropped wait is retried');
    t.equal(r.code, 3);
    t.equal(waits, 3, 'a wait that returns unfinished is re-issued');
  });

  t.test('qstat, qstat -j, qdel, qacct', async (t) => {
    const qstat = await runBin('qstat', [], env);
    t.equal(qstat.code, 0);
    t.match(qstat.stdout, /^job-ID {2}prior/);
    t.match(qstat.stdout, /\n {6}6 0\.50000 sleeper {4}root {9}r {5}11\/23\/2026 07:08:39 all\.q@vm {27}1 {8}\n$/);
    const zombies = await runBin('qstat', ['-s', 'z', '-u', 'root,alice'], env);
    t.same(zombies, { code: 0, stdout: '', stderr: '' }, '-s z shows only finished jobs');
    t.equal(api.seen.at(-1)!.url, '/api/v1/jobs?user=root%2Calice&finished=1');
    t.match((await runBin('qstat', ['-s', 'r'], env)).stdout, /sleeper/);
    t.equal((await runBin('qstat', ['-s', 'p'], env)).stdout, '');
    const badState = await runBin('qstat', ['-s', 'x'], env);
    t.equal(badState.code, 1);
    const finished = await runBin('qstat', ['-j', '5'], env);
    t.same(finished, { code: 1, stdout: '', stderr: 'Following jobs do not exist: \n5\n' }, 'a finished job is gone from qstat -j, as in SGE');
    t.equal(api.seen.at(-1)!.url, '/api/v1/jobs', 'a master that does not say whether qstat lists the job: the queue is asked');
    const seenBefore = api.seen.length;
    const gone = await runBin('qstat', ['-j', '15'], env);
    t.same(gone, { code: 1, stdout: '', stderr: 'Following jobs do not exist: \n15\n' }, 'listed: false is gone from qstat -j');
    const queued = await runBin('qstat', ['-j', '16'], env);
    t.equal(queued.code, 0);
    t.match(queued.stdout, /^job_number: +16$/m);
    t.match(queued.stdout, /^job_name: +queued$/m);
    t.same(api.seen.slice(seenBefore).map((r) => r.url), ['/api/v1/jobs/15', '/api/v1/jobs/16'], 'one request a job, never the whole queue (engines poll qstat -j once per job)');
    t.equal((await runBin('qstat', ['-q', 'other'], env)).stdout, '', 'qstat -q shows only the running jobs of those queues');
    t.match((await runBin('qstat', ['-q', 'all.q'], env)).stdout, /sleeper/);
    const missing = await runBin('qstat', ['-j', '999'], env);
    t.same(missing, { code: 1, stdout: '', stderr: 'Following jobs do not exist: \n999\n' });
    const del = await runBin('qdel', ['8', '999'], env);
    t.same(del, { code: 1, stdout: 'root has deleted job 8\ndenied: job "999" does not exist\n', stderr: '' });
    t.match(api.seen.at(-1)!.body, { targets: [{ job: '8' }, { job: '999' }], users: [], force: false });
    const acct = await runBin('qacct', ['-j', '8'], env);
    t.same(acct, { code: 1, stdout: '', stderr: 'error: job id 8 not found\n' });
    const badOption = await runBin('qstat', ['-foo'], env);
    t.equal(badOption.code, 1);
    t.match(badOption.stderr, /qstat: invalid option argument "-foo"/);
  });

  t.test('qalter, qhold, qrls send what SGE\'s options say', async (t) => {
    const alter = await runBin('qalter', ['-p', '-5', '-N', 'renamed', '-l', 'h_rt=0:1:0,h_vmem=2G', '-pe', 'smp', '2', '-hold_jid', '3,prep', '-q', 'gpu', '8'], env);
    t.same(alter, { code: 0, stdout: 'modified job 8\n', stderr: '' });
    t.match(api.seen.at(-1)!.body, {
      targets: [{ job: '8' }],
      changes: { priority: -5, name: 'renamed', resources: { wallclockSeconds: 60, vmemBytes: 2 * 1024 ** 3, other: {} }, slots: 2, holdJobs: ['3', 'prep'], queue: 'gpu' },
    });
    const unsupported = await runBin('qalter', ['-o', '/tmp/x', '8'], env);
    t.equal(unsupported.code, 1);
    t.match(unsupported.stderr, /qalter: option "-o" is not supported by qfarm yet/);
    const hold = await runBin('qhold', ['999'], env);
    t.same(hold, { code: 3, stdout: 'denied: job "999" does not exist\n', stderr: '' }, 'SGE\'s qhold exits 3 for a job that does not exist');
    t.equal(api.seen.at(-1)!.url, '/api/v1/jobs/hold');
    const rls = await runBin('qrls', ['-h', 'u', '999.2'], env);
    t.equal(rls.code, 3);
    t.match(api.seen.at(-1)!, { url: '/api/v1/jobs/release', body: { targets: [{ job: '999', tasks: { first: 2, last: 2, step: 1 } }] } });
  });

  t.test('a master that is not running', async (t) => {
    const r = await runBin('qstat', [], { ...env, QFARM_MASTER: 'http://127.0.0.1:9', QFARM_TOKEN: 'x' });
    t.equal(r.code, 1);
    t.equal(r.stderr, "error: unable to contact qfarm master at http://127.0.0.1:9: connection refused. Is it running? Start it with 'qfarm up' or 'qfarm master'\n");
  });

  t.test('-help prints usage and exits 0', async (t) => {
    for (const verb of ['qsub', 'qstat', 'qhost', 'qdel', 'qacct', 'qhold', 'qrls', 'qalter']) {
      const r = await runBin(verb, ['-help'], env);
      t.equal(r.code, 0, verb);
      t.match(r.stdout, new RegExp(`usage: ${verb} `), verb);
    }
  });
});
