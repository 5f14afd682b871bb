import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { ChildCpuAccount } from '../../agent/child-cpu.js';
import { parseCpuinfo, sgeArch } from '../../agent/inventory.js';
import { parseMeminfoUsage } from '../../agent/host-load.js';
import { parseProcStat } from '../../agent/proc-table.js';

t.test('parses /proc/PID/stat with a hostile comm', async (t) => {
  const line = '1234 (a) b) (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 40 7 3 20 0 1 0 99999 123456789 300 18446744073709551615';
  const s = parseProcStat(line)!;
  t.equal(s.pid, 1234);
  t.equal(s.comm, 'a) b) (c');
  t.equal(s.state, 'S');
  t.equal(s.ppid, 1);
  t.equal(s.pgrp, 1234);
  t.equal(s.utime, 250);
  t.equal(s.stime, 40);
  t.equal(s.cutime, 7);
  t.equal(s.cstime, 3);
  t.equal(s.starttime, 99999);
  t.equal(s.vsize, 123456789);
});

t.test('inventory parsing', async (t) => {
  const cpuinfo = [0, 1, 2, 3].map((i) => `processor\t: ${i}\nphysical id\t: ${i >> 1}\ncore id\t: ${i & 1}\n`).join('\n');
  t.same(parseCpuinfo(cpuinfo), { threads: 4, sockets: 2, cores: 4 });
  t.same(parseCpuinfo('processor : 0\n\nprocessor : 1\n'), { threads: 2, sockets: 1, cores: 2 }, 'no topology: one socket');
  t.equal(sgeArch('linux', 'x64'), 'lx-amd64');
  t.equal(sgeArch('linux', 'arm64'), 'lx-arm64');
  t.same(parseMeminfoUsage('MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 400 kB\nSwapTotal: 50 kB\nSwapFree: 20 kB\n'), {
    memUsedBytes: 600 * 1024,
    swapUsedBytes: 30 * 1024,
  });
});

t.test('CPU of a short child is charged from the reaped-children counters', { skip: process.platform !== 'linux' }, async (t) => {
  const account = new ChildCpuAccount();
  // ~0.3 s of CPU in a grandchild: the sampler would never see it.
  const child = spawn('/bin/sh', ['-c', 'sh -c "i=0; while [ \\$i -lt 300000 ]; do i=\\$((i+1)); done"'], { stdio: 'ignore' });
  const credit = await new Promise<Awaited<ReturnType<ChildCpuAccount['childExited']>>>((resolve) =>
    child.once('exit', () => void account.childExited().then(resolve)),
  );
  t.ok(credit, 'a lone exit gets a credit');
  t.ok(credit!.utimeSeconds + credit!.stimeSeconds > 0.1, `charged ${JSON.stringify(credit)}`);
});

t.test('long timers: an h_rt beyond setTimeout\'s 24.8 days does not fire at once', async (t) => {
  const { longTimeout } = await import('../../agent/long-timer.js');
  let fired = false;
  const cancel = longTimeout(() => (fired = true), 30 * 24 * 3600 * 1000);
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(fired);
  cancel();
  const quick = await new Promise<boolean>((resolve) => {
    longTimeout(() => resolve(true), 20);
    setTimeout(() => resolve(false), 2000);
  });
  t.ok(quick, 'a short one fires');
});

t.test('ProcessTree.kill stops a tree that keeps forking, and tagged escapees', { skip: process.platform !== 'linux' }, async (t) => {
  const { ProcessTree, taggedProcesses } = await import('../../agent/process-tree.js');
  const tag = { name: 'QFARM_TASK_TAG', value: `proc-test-${process.pid}-${Date.now()}` };
  // Forks while being killed; one child double-forks out of the session at once.
  const script = '(setsid sh -c "sleep 1000" &) ; i=0; while [ $i -lt 300 ]; do sleep 1000 & i=$((i+1)); done; wait';
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore', env: { ...process.env, [tag.name]: tag.value } });
  const exited = new Promise((r) => child.once('exit', r));
  await new Promise((r) => setTimeout(r, 150));
  t.ok(taggedProcesses(tag.name, tag.value).length > 2, 'the tree is running');
  await new ProcessTree(child.pid!, tag).kill(0);
  await exited;
  await new Promise((r) => setTimeout(r, 100));
  const left = taggedProcesses(tag.name, tag.value).filter((pid) => {
    try {
      return !/^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  });
  t.same(left, [], 'nothing of the tree is left alive');
});
