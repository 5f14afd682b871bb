import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HostsResponse } from '../../protocol/api.js';
import { localSlotsPerAgent } from '../../cli/admin/farm-up.js';
import { ROOT, TestFarm } from '../helpers/farm.js';
import { processesNaming } from '../helpers/processes.js';

/** Starting and stopping the farm never loses or fails work (issue 13, "Start and stop"). */

const BIN = path.join(ROOT, 'bin');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function farmEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, QFARM_HOME: home, PATH: `${BIN}:${process.env['PATH']}` };
  delete env['QFARM_MASTER'];
  delete env['QFARM_TOKEN'];
  return env;
}

function verb(env: NodeJS.ProcessEnv, name: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(path.join(BIN, name), args, { env, encoding: 'utf8', timeout: 60_000 });
}

async function until(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** `qfarm up` as a terminal runs it: the leader of its own foreground process group. */
function startUp(home: string, args: string[]): { up: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const up = spawn(path.join(BIN, 'qfarm'), ['up', '--listen', '127.0.0.1:0', ...args], { env: farmEnv(home), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  up.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => up.on('exit', (code) => resolve(code)));
  return { up, stderr: () => stderr, exited };
}

/** The terminal's Ctrl-C: SIGINT to every process of the foreground group. */
function ctrlC(up: ChildProcess): void {
  process.kill(-up.pid!, 'SIGINT');
}

function runningTasks(env: NodeJS.ProcessEnv): number {
  return verb(env, 'qstat', []).stdout.split('\n').filter((l) => /\s+r\s+/.test(l)).length;
}

t.test('local agents share the CPUs by default instead of each offering all of them', async (t) => {
  t.equal(localSlotsPerAgent(2, 2), 1);
  t.equal(localSlotsPerAgent(2, 8), 4);
  t.equal(localSlotsPerAgent(4, 2), 1, 'never fewer than one slot');
  t.equal(localSlotsPerAgent(1, 6), 6);
});

t.test('Ctrl-C of qfarm up lets a short task finish; a second Ctrl-C requeues a long one, which reruns at the next start', async (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-stop-'));
  t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
  const env = farmEnv(home);
  const work = path.join(home, 'work');
  fs.mkdirSync(work);

  let farm = startUp(home, ['--agents', '2']);
  t.teardown(() => farm.up.kill('SIGKILL'));
  await until('qfarm up to be ready', 30_000, () => /Ctrl-C stops them/.test(farm.stderr()));
  const cpus = os.availableParallelism();
  await until('both agents online', 20_000, () => (verb(env, 'qstat', ['-f']).stdout.match(/@\S+-[12]\s/g) ?? []).length === 2);
  const queues = verb(env, 'qstat', ['-f']).stdout;
  const each = Math.max(1, Math.floor(cpus / 2));
  t.match(queues, new RegExp(`@\\S+-1\\s+\\S+\\s+0/0/${each}\\s`), `each of the 2 agents offers ${each} of the ${cpus} CPUs:\n${queues}`);
  t.match(queues, new RegExp(`@\\S+-2\\s+\\S+\\s+0/0/${each}\\s`));
  const short = verb(env, 'qsub', ['-b', 'y', '-o', '/dev/null', '-e', '/dev/null', 'sleep', '3']);
  t.equal(short.status, 0, short.stderr);
  await until('the short task to run', 20_000, () => runningTasks(env) === 1);
  ctrlC(farm.up);
  t.equal(await farm.exited, 0, farm.stderr());
  t.match(farm.stderr(), /stopping: the agents take no new tasks and let running ones finish/);
  farm = startUp(home, ['--agents', '1', '--slots', '1']);
  await until('qfarm up to be ready again', 30_000, () => /Ctrl-C stops them/.test(farm.stderr()));
  const drained = verb(env, 'qacct', ['-j', '1']);
  t.match(drained.stdout, /failed\s+0\s*\n/, `the drained task finished normally:\n${drained.stdout}`);
  t.match(drained.stdout, /exit_status\s+0\s*\n/);

  // A task that would outlive the drain: the second Ctrl-C kills it and it is requeued, not failed.
  const marker = path.join(work, 'ran-once');
  const long = verb(env, 'qsub', ['-b', 'y', '-o', '/dev/null', '-e', '/dev/null', 'sh', '-c', `if [ -e ${marker} ]; then exit 0; fi; touch ${marker}; sleep 120`]);
  t.equal(long.status, 0, long.stderr);
  await until('the long task to run', 20_000, () => fs.existsSync(marker) && runningTasks(env) === 1);
  ctrlC(farm.up);
  await until('the first stop message', 10_000, () => /stopping: the agents/.test(farm.stderr()));
  ctrlC(farm.up);
  t.equal(await farm.exited, 0, farm.stderr());
  t.match(farm.stderr(), /killing running tasks; they are requeued/);

  farm = startUp(home, ['--agents', '1', '--slots', '1']);
  await until('qfarm up to start a third time', 30_000, () => /Ctrl-C stops them/.test(farm.stderr()));
  await until('the requeued task to finish', 30_000, () => verb(env, 'qacct', ['-j', '2']).status === 0);
  const rerun = verb(env, 'qacct', ['-j', '2']).stdout;
  t.match(rerun, /failed\s+0\s*\n/, `the task ran again and succeeded:\n${rerun}`);
  t.match(rerun, /exit_status\s+0\s*\n/);
  ctrlC(farm.up);
  t.equal(await farm.exited, 0);
});

t.test('one master per QFARM_HOME: a second master or qfarm up is refused and changes nothing', async (t) => {
  const farm = await TestFarm.start(t);
  const infoBefore = fs.readFileSync(path.join(farm.home, 'master.json'), 'utf8');
  const pid = farm.master!.pid;
  const second = spawnSync(path.join(BIN, 'qfarm'), ['master', '--listen', '127.0.0.1:0'], { env: farm.env, encoding: 'utf8', timeout: 30_000 });
  t.equal(second.status, 1);
  t.match(second.stderr, `qfarm master: a master is already running at ${farm.url} (pid ${pid}) with QFARM_HOME=${farm.home}`);
  const up = spawnSync(path.join(BIN, 'qfarm'), ['up', '--agents', '1', '--listen', '127.0.0.1:0'], { env: farm.env, encoding: 'utf8', timeout: 30_000 });
  t.equal(up.status, 1);
  t.match(up.stderr, `qfarm up: a master is already running at ${farm.url} (pid ${pid})`);
  t.equal(fs.readFileSync(path.join(farm.home, 'master.json'), 'utf8'), infoBefore, 'master.json still names the first master');
  const hosts = (await farm.api('GET', '/hosts')) as HostsResponse;
  t.same(hosts.hosts, [], 'no host was registered into the first farm');
  const job = await farm.submit(['-b', 'y', '-o', '/dev/null', '-e', '/dev/null', 'true']);
  t.ok(job > 0, 'the first farm still answers');

  // The lock dies with its master, even on kill -9: the home is free again at once.
  await farm.crashAndRestartMaster();
  t.not(farm.master!.pid, pid);
});

t.test('the pid qfarm master prints and publishes is the daemon itself', async (t) => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-pid-'));
  t.teardown(() => fs.rmSync(home, { recursive: true, force: true }));
  const master = spawn(path.join(BIN, 'qfarm'), ['master', '--listen', '127.0.0.1:0'], { env: farmEnv(home), stdio: 'ignore' });
  t.teardown(() => master.kill('SIGKILL'));
  const exited = new Promise<void>((resolve) => master.on('exit', () => resolve()));
  const infoFile = path.join(home, 'master.json');
  await until('master.json', 30_000, () => fs.existsSync(infoFile));
  const info = JSON.parse(fs.readFileSync(infoFile, 'utf8')) as { url: string; pid: number };
  // bin/qfarm is a shell script that execs node: the same pid all the way to the daemon.
  t.equal(info.pid, master.pid, 'master.json names the process we started');
  master.kill('SIGKILL');
  await exited;
  const port = Number(new URL(info.url).port);
  const refused = await new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(true));
  });
  t.ok(refused, 'kill -9 of that pid left nothing listening on the port');
});

t.test('an autoscaled local group converges back to its minimum after a master SIGKILL', async (t) => {
  const farm = await TestFarm.start(t);
  const create = await farm.run('qfarm', ['group', 'create', 'loc', '--provider', 'local', '--min', '2', '--max', '2', '--slots', '1', '--autoscale']);
  t.equal(create.code, 0, create.stderr);
  const online = async (): Promise<string[]> =>
    ((await farm.api('GET', '/hosts')) as HostsResponse).hosts.filter((h) => h.group === 'loc' && h.state === 'online').map((h) => h.hostname);
  await farm.waitFor(async () => (await online()).length === 2, 60_000, 'the group to reach its minimum');
  await farm.crashAndRestartMaster();
  await farm.waitFor(async () => (await online()).length === 2, 90_000, 'the group to converge back to 2 online agents');
  t.equal((await online()).length, 2, `online: ${(await online()).join(', ')}`);
  // The killed master's agents left: only the new master's agents run on the group's state directories.
  await farm.waitFor(() => localAgentProcesses(farm.home).length === 2, 90_000, 'the orphaned agents to exit');
  t.equal(localAgentProcesses(farm.home).length, 2);
});

/** Agents `qfarm up` started for the farm in `home`. */
function localAgentProcesses(home: string): number[] {
  return processesNaming('--exit-with-parent', home);
}
