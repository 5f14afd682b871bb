import t from 'tap';
import type { TaskUsage } from '../../protocol/agent-messages.js';
import { LimitWatcher, type LimitWatchOptions } from '../../agent/limit-watcher.js';
import { FakeClock } from '../helpers/fake-clock.js';

const usage = (maxVmemBytes: number, cpuSeconds = 0): TaskUsage => ({
  cpuSeconds,
  utimeSeconds: cpuSeconds,
  stimeSeconds: 0,
  rssBytes: 0,
  maxRssBytes: 0,
  vmemBytes: maxVmemBytes,
  maxVmemBytes,
  ioBytes: 0,
});

/** A watcher over a task whose samples read `vmem()` at that moment; records what it reports. */
function watch(over: Partial<LimitWatchOptions> & { vmem?: () => number } = {}) {
  const clock = new FakeClock();
  const seen = { samples: 0, usages: [] as Array<{ at: number; usage: TaskUsage }>, limits: [] as Array<{ at: number; reason: string }>, errors: [] as unknown[] };
  const started = clock.now();
  const vmem = over.vmem ?? (() => 1000);
  const watcher = new LimitWatcher({
    source: {
      sample: () => {
        seen.samples++;
        return usage(vmem(), seen.samples);
      },
    },
    clock,
    vmemLimitBytes: null,
    wallclockSeconds: null,
    sampleIntervalMs: 1000,
    usageIntervalMs: 2000,
    onUsage: (u) => seen.usages.push({ at: clock.now() - started, usage: u }),
    onLimit: (reason) => seen.limits.push({ at: clock.now() - started, reason }),
    onSampleError: (err) => seen.errors.push(err),
    ...over,
  });
  watcher.start();
  return { clock, watcher, seen };
}

t.test('the first sample comes after 100 ms and is reported at once; then usage at most every usageIntervalMs', async (t) => {
  const { clock, seen } = watch();
  clock.advance(99);
  t.equal(seen.samples, 0, 'nothing before 100 ms');
  clock.advance(1);
  t.same(seen.usages.map((u) => u.at), [100], 'a short task still reports usage');
  clock.advance(5000 - 100);
  t.equal(seen.samples, 6, 'sampled at 100 ms, then every second from the start');
  t.same(seen.usages.map((u) => u.at), [100, 3000, 5000], 'reported on the first sample at least 2 s after the last report');
});

t.test('a sample interval shorter than 100 ms is used for the first sample too', async (t) => {
  const { clock, seen } = watch({ sampleIntervalMs: 40, usageIntervalMs: 0 });
  clock.advance(40);
  t.equal(seen.samples, 2, 'the first-sample timer and the interval both fire at 40 ms');
  t.equal(seen.usages.length, 2, 'with no usage interval every sample is reported');
});

t.test('h_vmem: exceeding the limit is reported once, naming the limit and the use', async (t) => {
  let vmem = 500;
  const { clock, seen } = watch({ vmemLimitBytes: 1000, vmem: () => vmem });
  clock.advance(2100);
  t.same(seen.limits, [], 'at or under the limit is fine');
  vmem = 1000;
  clock.advance(1000);
  t.same(seen.limits, [], 'exactly the limit is allowed');
  vmem = 1001;
  clock.advance(1000);
  t.same(seen.limits, [{ at: 4000, reason: 'h_vmem limit of 1000 bytes exceeded (1001 bytes used)' }], 'at the next sample');
  clock.advance(5000);
  t.equal(seen.limits.length, 1, 'later samples over the limit do not report it again');
});

t.test('no h_vmem limit: any size is allowed', async (t) => {
  const { clock, seen } = watch({ vmem: () => Number.MAX_SAFE_INTEGER });
  clock.advance(10_000);
  t.same(seen.limits, []);
});

t.test('h_rt fires at exactly the wallclock limit, even one beyond setTimeout\'s range', async (t) => {
  const { clock, seen } = watch({ wallclockSeconds: 3 });
  clock.advance(2999);
  t.same(seen.limits, []);
  clock.advance(1);
  t.same(seen.limits, [{ at: 3000, reason: 'h_rt limit of 3s exceeded' }]);

  const month = 30 * 24 * 3600;
  const long = watch({ wallclockSeconds: month, sampleIntervalMs: 3600_000 });
  long.clock.advance(month * 1000 - 1);
  t.same(long.seen.limits, []);
  long.clock.advance(1);
  t.same(long.seen.limits, [{ at: month * 1000, reason: `h_rt limit of ${month}s exceeded` }]);
});

t.test('only the first limit is reported: h_rt after h_vmem says nothing', async (t) => {
  const { clock, seen } = watch({ vmemLimitBytes: 10, wallclockSeconds: 2 });
  clock.advance(5000);
  t.same(seen.limits.map((l) => l.reason), ['h_vmem limit of 10 bytes exceeded (1000 bytes used)']);
});

t.test('stop: no sample, report or limit afterwards, and no timer left behind', async (t) => {
  const { clock, watcher, seen } = watch({ wallclockSeconds: 5, vmemLimitBytes: 10_000 });
  clock.advance(1000);
  watcher.stop();
  const samples = seen.samples;
  t.equal(clock.pending, 0);
  clock.advance(60_000);
  t.equal(seen.samples, samples);
  t.same(seen.limits, []);
});

t.test('a failing sample is reported and sampling goes on', async (t) => {
  let fail = true;
  const { clock, seen } = watch({
    vmem: () => {
      if (fail) throw new Error('process vanished mid-read');
      return 1;
    },
  });
  clock.advance(100);
  t.equal(seen.errors.length, 1);
  t.match(seen.errors[0], { message: 'process vanished mid-read' });
  t.same(seen.usages, [], 'nothing reported from a failed sample');
  fail = false;
  clock.advance(900);
  t.same(seen.usages.map((u) => u.at), [1000], 'the next tick samples and reports again');
});
