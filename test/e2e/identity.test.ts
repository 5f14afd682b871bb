import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';
import { ATTACKER, BYSTANDER, ensureUser, requireRoot, runAsUser, type UnixUser } from '../helpers/unix-users.js';
import { sgeProbe } from '../cli/sge-transcript.js';

/**
 * Issue 9, items 1, 2 and 8: a farm user can only ever act as themselves. Everything here is
 * done by a real unprivileged account against a real root-run master and agent.
 */

const OWNERSHIP = 'ownership.txt';
/** In the recording, qfarm-bob acted on root's job 2; the manager probes used job 3. */
const RECORDED_USER = 'qfarm-bob';

/** SGE's recorded answer to `command` on `job`, said by `user` about job `jobId`. */
function sgeRefusal(command: string, recordedJob: number, user: string, jobId: number): { stdout: string; code: number } {
  const probe = sgeProbe(OWNERSHIP, `${command} ${recordedJob}`);
  const stdout = probe.stdout.map((line) => line.replaceAll(`"${RECORDED_USER}"`, `"${user}"`).replace(new RegExp(`^${RECORDED_USER} `), `${user} `).replaceAll(`"${recordedJob}"`, `"${jobId}"`).replace(new RegExp(`job ${recordedJob}\\b`), `job ${jobId}`));
  return { stdout: stdout.map((l) => `${l}\n`).join(''), code: probe.exit };
}

/** A raw HTTP request over QFARM_HOME/api.sock, sent by `user`'s own process: no CLI in between. */
async function rawRequestAs(user: UnixUser, farm: TestFarm, method: string, route: string, body: unknown): Promise<{ status: number; body: string }> {
  const script = `
    const http = require('node:http');
    const [socketPath, method, route, body] = process.argv.slice(1);
    const req = http.request({ socketPath, method, path: '/api/v1' + route, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = ''; res.setEncoding('utf8'); res.on('data', (c) => (text += c));
      res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, body: text })));
    });
    req.end(body);`;
  const run = await runAsUser(user, [process.execPath, '-e', script, path.join(farm.home, 'api.sock'), method, route, JSON.stringify(body)]);
  if (run.code !== 0) throw new Error(`raw request as ${user.name} failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as { status: number; body: string };
}

t.test('identity comes from the operating system; users act only on their own jobs', async (t) => {
  requireRoot();
  const mallory = ensureUser(ATTACKER);
  const bob = ensureUser(BYSTANDER);
  const farm = await TestFarm.start(t, { agents: 1, slots: 2 });

  t.test('a local user submits over the socket with no set-up, and the job is theirs', async (t) => {
    const out = path.join(mallory.home, 'uid.out');
    fs.rmSync(out, { force: true });
    const res = await farm.runAs(mallory, 'qsub', ['-terse', '-h', '-b', 'y', '-j', 'y', '-o', out, 'id', '-u']);
    t.equal(res.code, 0, res.stderr);
    const jobId = Number.parseInt(res.stdout, 10);
    const detail = await farm.runAs(mallory, 'qstat', ['-j', String(jobId)]);
    t.match(detail.stdout, new RegExp(`owner:\\s+${ATTACKER}\\n`));
    t.match(detail.stdout, new RegExp(`uid:\\s+${mallory.uid}\\n`));
    t.match((await farm.run('qstat', [])).stdout, new RegExp(`\\s${jobId} .* ${ATTACKER.slice(0, 12)} +hqw `), "root's qstat shows the job as the user's (name cut to 12, as SGE)");
    t.equal((await farm.runAs(mallory, 'qrls', [String(jobId)])).code, 0);
    await farm.waitForJob(jobId);
    t.equal(fs.readFileSync(out, 'utf8').trim(), String(mallory.uid), "the task ran with the submitter's uid");
    const whoami = await farm.runAs(mallory, 'qfarm', ['whoami']);
    t.equal(whoami.stdout, `${ATTACKER} (uid ${mallory.uid}, gid ${mallory.gid} ${ATTACKER}) via socket\n`);
  });

  t.test('a request that names its submitter or requester is refused and changes nothing', async (t) => {
    const rootJob = await farm.submit(['-h', '-b', 'y', 'true']);
    const before = await farm.run('qstat', []);
    const forged = await rawRequestAs(mallory, farm, 'POST', '/jobs', {
      name: 'evil', submitter: { user: 'root', uid: 0, gid: 0, group: 'root', home: '/root' }, submitHost: 'x', command: { kind: 'binary', argv: ['id'] },
      cwd: '/', submitCwd: '/', joinOutput: false, env: {}, hold: false, holdJobs: [], priority: 0, slots: 1, resources: { other: {} }, pty: false,
    });
    t.equal(forged.status, 400);
    t.match(JSON.parse(forged.body), { error: /carries "submitter": identity comes from the connection/ });
    for (const [route, body] of [
      ['/jobs/delete', { targets: [{ job: String(rootJob) }], users: [], requester: 'root', force: false }],
      ['/jobs/hold', { targets: [{ job: String(rootJob) }], requester: 'root' }],
      ['/jobs/alter', { targets: [{ job: String(rootJob) }], requester: 'root', changes: { priority: -100 } }],
    ] as const) {
      const res = await rawRequestAs(mallory, farm, 'POST', route, body);
      t.equal(res.status, 400, `${route} with a requester`);
      t.match(JSON.parse(res.body), { error: /carries "requester": identity comes from the connection/ });
    }
    t.equal((await farm.run('qstat', [])).stdout, before.stdout, 'the queue is as it was');
    await farm.run('qdel', [String(rootJob)]);
  });

  t.test("qdel, qalter, qhold, qrls of root's and another user's job: SGE's refusal and exit code", async (t) => {
    const rootJob = await farm.submit(['-h', '-b', 'y', 'true']);
    const bobRun = await farm.runAs(bob, 'qsub', ['-terse', '-h', '-b', 'y', 'true']);
    const bobJob = Number.parseInt(bobRun.stdout, 10);
    for (const jobId of [rootJob, bobJob]) {
      for (const [verb, args] of [['qdel', []], ['qalter', ['-p', '-5']], ['qhold', []], ['qrls', []]] as const) {
        const expected = sgeRefusal([verb, ...args].join(' '), 2, ATTACKER, jobId);
        const res = await farm.runAs(mallory, verb, [...args, String(jobId)]);
        t.equal(res.stdout, expected.stdout, `${verb} of job ${jobId}: SGE's text`);
        t.equal(res.code, expected.code, `${verb} of job ${jobId}: SGE's exit code ${expected.code}`);
      }
    }
    const jobs = (await farm.api('GET', '/jobs')) as { rows: { jobId: number; state: string; prior: number }[] };
    for (const jobId of [rootJob, bobJob]) t.match(jobs.rows.find((r) => r.jobId === jobId), { state: 'hqw' }, `job ${jobId} untouched`);

    t.test('root may act on every job', async (t) => {
      const res = await farm.run('qalter', ['-p', '-5', String(bobJob)]);
      t.equal(res.code, 0, res.stdout);
      t.match(res.stdout, /^root@\S+ sets scheduling priority of job \d+ to -5\n$/);
    });

    t.test('so may a manager (qfarm manager add), and no longer once removed', async (t) => {
      t.equal((await farm.run('qfarm', ['manager', 'add', ATTACKER])).code, 0);
      t.equal((await farm.runAs(mallory, 'qfarm', ['manager', 'add', ATTACKER])).code, 1, 'only root names managers');
      const hold = await farm.runAs(mallory, 'qrls', [String(bobJob)]);
      t.equal(hold.code, 0, hold.stdout);
      t.equal(hold.stdout, `modified hold of job ${bobJob}\n`);
      t.equal((await farm.run('qfarm', ['manager', 'remove', ATTACKER])).code, 0);
      const denied = await farm.runAs(mallory, 'qdel', [String(rootJob)]);
      t.equal(denied.stdout, sgeRefusal('qdel', 2, ATTACKER, rootJob).stdout);
    });

    t.test("a user may not read another user's task output, nor disable hosts", async (t) => {
      const bobOut = await farm.runAs(bob, 'qsub', ['-terse', '-b', 'y', '-o', '/dev/null', 'echo', 'secret-of-bob']);
      const id = Number.parseInt(bobOut.stdout, 10);
      await farm.waitForJob(id);
      const logs = await farm.runAs(mallory, 'qfarm', ['logs', String(id)]);
      t.equal(logs.code, 1);
      t.match(logs.stderr, new RegExp(`${ATTACKER} may not read the output of job ${id}: it belongs to ${BYSTANDER}`));
      t.notMatch(logs.stdout, /secret-of-bob/);
      t.match((await farm.runAs(bob, 'qfarm', ['logs', String(id)])).stdout, /secret-of-bob/, 'the owner may');
      const disable = await farm.runAs(mallory, 'qfarm', ['host', 'disable', 'node1']);
      t.equal(disable.code, 1);
      t.match(disable.stderr, /may not disable host node1: only root and managers may/);
      t.equal(await farm.hostState('node1'), 'online');
    });
  });
});
