import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { assignment, FakeMaster, startAgent } from '../helpers/fake-master.js';

const master = await FakeMaster.start();
const agent = await startAgent(master);
const workdir = await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-agent-kill-'));
t.teardown(async () => {
  await agent.stop();
  await master.close();
  await fs.rm(workdir, { recursive: true, force: true });
});
const link = await master.connection(0);
await link.waitFor((f) => f.type === 'hello');
link.welcome();

/** Is the process alive (zombies count as dead: they only wait to be reaped by init)? */
async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

async function waitForFile(file: string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const text = await fs.readFile(file, 'utf8');
      if (text.trim() !== '') return text;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${file} not written within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('kill: the whole tree dies, also a grandchild in its own session', async (t) => {
  const pids = path.join(workdir, 'pids');
  // The grandchild escapes the task's session and process group with setsid.
  const script = `setsid sleep 1000 & echo $! > ${pids}.gc; sleep 1000 & echo $! > ${pids}.c; echo ready; wait`;
  const a = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/sh', '-c', script] } });
  link.send(a);
  const started = await link.waitFor((f) => f.type === 'started' && f.attemptId === a.attemptId);
  if (started.type !== 'started') throw new Error();
  const gc = Number(await waitForFile(`${pids}.gc`));
  const c = Number(await waitForFile(`${pids}.c`));
  await link.waitFor(() => link.output(a.attemptId).includes('ready'));
  t.ok(await alive(gc), 'grandchild runs before the kill');
  link.send({ type: 'kill', attemptId: a.attemptId, reason: 'deleted by alice' });
  const fin = await link.finished(a.attemptId);
  t.equal(fin.failedCode, 100);
  t.equal(fin.failedReason, 'deleted by alice');
  // sh dies of SIGTERM (143) unless it ignored it and needed SIGKILL (137).
  t.ok(fin.exitStatus === 143 || fin.exitStatus === 137, `exit status ${fin.exitStatus} is 128+signal`);
  t.ok(fin.signal === 'SIGTERM' || fin.signal === 'SIGKILL');
  t.notOk(await alive(started.pid), 'task process gone');
  t.notOk(await alive(c), 'child gone');
  t.notOk(await alive(gc), 'setsid grandchild gone');
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('kill escalates to SIGKILL when SIGTERM is ignored', async (t) => {
  const a = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/sh', '-c', "trap '' TERM; echo ready; while :; do sleep 0.1; done"] } });
  link.send(a);
  await link.waitFor(() => link.output(a.attemptId).includes('ready'));
  link.send({ type: 'kill', attemptId: a.attemptId, reason: 'deleted by bob' });
  const fin = await link.finished(a.attemptId);
  t.equal(fin.exitStatus, 137);
  t.equal(fin.signal, 'SIGKILL');
  t.equal(fin.failedCode, 100);
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('h_rt: killed with SIGKILL when the wall-clock limit passes', async (t) => {
  const a = assignment({ cwd: workdir, wallclockSeconds: 1, command: { kind: 'binary', argv: ['/bin/sleep', '30'] } });
  const t0 = Date.now();
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.ok(Date.now() - t0 < 10_000, 'killed well before the sleep ends');
  t.equal(fin.exitStatus, 137);
  t.equal(fin.signal, 'SIGKILL');
  t.equal(fin.failedCode, 37, 'as SGE 8.1.9 accounts an h_rt kill (test/fixtures/sge/qacct.txt)');
  t.equal(fin.failedReason, 'h_rt limit of 1s exceeded');
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('h_vmem: killed when the tree uses more virtual memory than allowed', async (t) => {
  // 1 MiB limit per slot: any shell exceeds it at once.
  const a = assignment({ cwd: workdir, vmemBytes: 1024 * 1024, command: { kind: 'binary', argv: ['/bin/sleep', '30'] } });
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.equal(fin.exitStatus, 137);
  t.equal(fin.failedCode, 37, 'SGE: qmaster enforced h_rt, h_cpu, or h_vmem limit');
  t.match(fin.failedReason, /^h_vmem limit of 1048576 bytes exceeded/);
  t.ok(fin.usage.maxVmemBytes > 1024 * 1024);
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('usage: CPU, memory and io of the tree are sampled and reported', async (t) => {
  // A fixed amount of work (~0.6 s of CPU on an idle core, whatever the load) in a grandchild, with some io.
  const script = `sh -c 'i=0; while [ $i -lt 600000 ]; do i=$((i+1)); done; head -c 1000000 /dev/zero > /dev/null'`;
  const a = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/sh', '-c', script] } });
  link.send(a);
  const usage = await link.waitFor((f) => f.type === 'usage' && f.attemptId === a.attemptId);
  if (usage.type !== 'usage') throw new Error();
  t.ok(usage.usage.maxRssBytes > 0, 'rss sampled while running');
  const fin = await link.finished(a.attemptId);
  t.ok(fin.usage.cpuSeconds >= 0.3, `cpu ${fin.usage.cpuSeconds}s counted`);
  t.ok(fin.usage.maxVmemBytes > 0);
  t.ok(fin.usage.ioBytes > 0);
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('a short task still gets its CPU charged', async (t) => {
  // ~0.3 s of CPU, too short for the 1 s sampler.
  const a = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/sh', '-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'] } });
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.ok(fin.usage.cpuSeconds > 0.05, `cpu ${fin.usage.cpuSeconds}s counted`);
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('processes left behind by a finished task are killed', async (t) => {
  const pidfile = path.join(workdir, 'bg.pid');
  const a = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/sh', '-c', `sleep 1000 > /dev/null 2>&1 & echo $! > ${pidfile}`] } });
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.equal(fin.exitStatus, 0);
  t.notOk(await alive(Number(await waitForFile(pidfile))), 'background sleep killed at task end');
  link.send({ type: 'ack', attemptId: a.attemptId });
});

t.test('a short task whose background processes keep its output open', async (t) => {
  const pidfile = path.join(workdir, 'held.pid');
  const escaped = path.join(workdir, 'escaped.pid');
  // One background child in the task's group, one that left with setsid; both keep stdout open.
  const a = assignment({ cwd: workdir, command: { kind: 'binary', argv: ['/bin/sh', '-c', `sleep 1000 & echo $! > ${pidfile}; setsid sleep 1000 & echo $! > ${escaped}; echo bye`] } });
  const t0 = Date.now();
  link.send(a);
  const fin = await link.finished(a.attemptId);
  t.ok(Date.now() - t0 < 2000, `finished promptly (${Date.now() - t0} ms), not held by the open pipes`);
  t.equal(fin.exitStatus, 0);
  t.equal(link.output(a.attemptId), 'bye\n');
  t.notOk(await alive(Number(await waitForFile(pidfile))), 'group member killed');
  t.notOk(await alive(Number(await waitForFile(escaped))), 'escaped process holding the output killed');
  link.send({ type: 'ack', attemptId: a.attemptId });
});
