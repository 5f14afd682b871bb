import t from 'tap';
import { FailedCode } from '../../protocol/agent-messages.js';
import { exitResult, failedResult, type TaskEnd } from '../../agent/task-exit.js';

const usage = { cpuSeconds: 1.5, utimeSeconds: 1, stimeSeconds: 0.5, rssBytes: 0, maxRssBytes: 4096, vmemBytes: 0, maxVmemBytes: 8192, ioBytes: 10 };
const end = (over: Partial<TaskEnd>): TaskEnd => ({
  exit: { code: 0, signal: null },
  setupFailure: undefined,
  limitReason: undefined,
  killReason: undefined,
  userName: 'alice',
  hostname: 'node1',
  setupStartedAt: 100,
  startedAt: 150,
  endedAt: 900,
  usage,
  ...over,
});

const cases: Array<{ name: string; end: Partial<TaskEnd>; exitStatus: number; signal: string | null; failedCode: number; failedReason: string }> = [
  { name: 'exit 0', end: {}, exitStatus: 0, signal: null, failedCode: FailedCode.None, failedReason: '' },
  { name: 'exit 3 is the task\'s own failure, not the farm\'s', end: { exit: { code: 3, signal: null } }, exitStatus: 3, signal: null, failedCode: FailedCode.None, failedReason: '' },
  { name: 'killed by SIGKILL is 128 + 9', end: { exit: { code: null, signal: 'SIGKILL' } }, exitStatus: 137, signal: 'SIGKILL', failedCode: FailedCode.None, failedReason: '' },
  { name: 'killed by SIGTERM is 128 + 15', end: { exit: { code: null, signal: 'SIGTERM' } }, exitStatus: 143, signal: 'SIGTERM', failedCode: FailedCode.None, failedReason: '' },
  { name: 'an unknown signal counts as 128', end: { exit: { code: null, signal: 'SIGNOPE' } }, exitStatus: 128, signal: 'SIGNOPE', failedCode: FailedCode.None, failedReason: '' },
  { name: 'neither code nor signal counts as 128', end: { exit: { code: null, signal: null } }, exitStatus: 128, signal: null, failedCode: FailedCode.None, failedReason: '' },
  { name: 'an out-of-range code is clamped to 255', end: { exit: { code: 300, signal: null } }, exitStatus: 255, signal: null, failedCode: FailedCode.None, failedReason: '' },
  { name: 'a negative code is clamped to 0', end: { exit: { code: -1, signal: null } }, exitStatus: 0, signal: null, failedCode: FailedCode.None, failedReason: '' },
  {
    name: 'a limit kill is failed 37 with the limit',
    end: { exit: { code: null, signal: 'SIGKILL' }, limitReason: 'h_rt limit of 5s exceeded' },
    exitStatus: 137,
    signal: 'SIGKILL',
    failedCode: FailedCode.LimitExceeded,
    failedReason: 'h_rt limit of 5s exceeded',
  },
  {
    name: 'qdel is failed 100 with its reason',
    end: { exit: { code: null, signal: 'SIGTERM' }, killReason: 'deleted by bob' },
    exitStatus: 143,
    signal: 'SIGTERM',
    failedCode: FailedCode.AfterJob,
    failedReason: 'deleted by bob',
  },
  {
    name: 'a limit outranks a kill request that came after it',
    end: { exit: { code: null, signal: 'SIGKILL' }, limitReason: 'h_vmem limit of 10 bytes exceeded (20 bytes used)', killReason: 'deleted by bob' },
    exitStatus: 137,
    signal: 'SIGKILL',
    failedCode: FailedCode.LimitExceeded,
    failedReason: 'h_vmem limit of 10 bytes exceeded (20 bytes used)',
  },
  { name: 'a kill the task survived with exit 0 is still failed 100', end: { killReason: 'agent stopping' }, exitStatus: 0, signal: null, failedCode: FailedCode.AfterJob, failedReason: 'agent stopping' },
];

t.test('exit → result', async (t) => {
  for (const c of cases) {
    const result = exitResult(end(c.end));
    t.same(
      { exitStatus: result.exitStatus, signal: result.signal, failedCode: result.failedCode, failedReason: result.failedReason },
      { exitStatus: c.exitStatus, signal: c.signal, failedCode: c.failedCode, failedReason: c.failedReason },
      c.name,
    );
    t.same({ startedAt: result.startedAt, endedAt: result.endedAt, usage: result.usage }, { startedAt: 150, endedAt: 900, usage }, `${c.name}: times and usage of the run`);
  }
});

t.test('qfarm-exec could not start the task: failed before job, timed from setup, no usage', async (t) => {
  const result = exitResult(end({ exit: { code: 121, signal: null }, setupFailure: 'cannot set umask: Invalid argument', limitReason: 'h_rt limit of 1s exceeded' }));
  t.same(result, failedResult(100, 900, FailedCode.BeforeJob, 'the task could not be started for user alice on host node1: cannot set umask: Invalid argument'));
  t.equal(result.usage.cpuSeconds, 0);
});

t.test('a working directory qfarm-exec cannot enter reads like the output writer\'s reason', async (t) => {
  const missing = exitResult(end({ setupFailure: 'cannot enter working directory /data/x: No such file or directory' }));
  t.equal(missing.failedReason, 'working directory /data/x does not exist on host node1');
  t.equal(missing.failedCode, FailedCode.BeforeJob);
  const denied = exitResult(end({ setupFailure: 'cannot enter working directory /data/x: Permission denied' }));
  t.equal(denied.failedReason, 'working directory /data/x cannot be entered by user alice on host node1: Permission denied');
});

t.test('failedResult: exit 0, no signal, zero usage of its own', async (t) => {
  const a = failedResult(1, 2, FailedCode.OpenOutput, 'cannot open /x');
  const b = failedResult(1, 2, FailedCode.OpenOutput, 'cannot open /x');
  t.same(a, { exitStatus: 0, signal: null, failedCode: 26, failedReason: 'cannot open /x', startedAt: 1, endedAt: 2, usage: { ...usage, cpuSeconds: 0, utimeSeconds: 0, stimeSeconds: 0, maxRssBytes: 0, maxVmemBytes: 0, ioBytes: 0 } });
  a.usage.cpuSeconds = 5;
  t.equal(b.usage.cpuSeconds, 0, 'results do not share a usage object');
});
