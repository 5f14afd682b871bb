import t from 'tap';
import { HOST_SAMPLE_MS, HostHistory } from '../../../master/web/host-history.js';

type Host = { hostname: string; load1: number; memUsedBytes: number };

/** A history over a hub whose connected hosts the test sets, on a clock it moves. */
function history(): { hosts: Host[]; clock: { now: number }; history: HostHistory; samples: () => number } {
  const hosts: Host[] = [];
  const clock = { now: 1_000_000 };
  let samples = 0;
  const h = new HostHistory({ sessionsList: () => hosts }, () => samples++, () => clock.now);
  return { hosts, clock, history: h, samples: () => samples };
}

t.test('a host charts its last hour, oldest first, one sample every 10 s', (t) => {
  const { hosts, clock, history: h, samples } = history();
  hosts.push({ hostname: 'n1', load1: 0.5, memUsedBytes: 100 });
  for (let i = 0; i < 365; i++) {
    hosts[0]!.load1 = i;
    hosts[0]!.memUsedBytes = i * 1000;
    h.sample();
    clock.now += HOST_SAMPLE_MS;
  }
  const s = h.series('n1');
  t.equal(s.times.length, 360, 'an hour of samples kept');
  t.equal(s.loads[0], 5, 'the five oldest are gone');
  t.equal(s.loads.at(-1), 364);
  t.equal(s.memUsed.at(-1), 364_000);
  t.ok(s.times.every((time, i) => i === 0 || time - s.times[i - 1]! === HOST_SAMPLE_MS), 'in time order');
  t.equal(samples(), 365, 'every sample told the dashboard');
  t.same(h.series('never-seen'), { times: [], loads: [], memUsed: [] });
  t.end();
});

t.test('a host gone for an hour is forgotten, and its ring serves a new host without its samples', (t) => {
  const { hosts, clock, history: h } = history();
  hosts.push({ hostname: 'spot-1', load1: 3, memUsedBytes: 7 });
  h.sample();
  hosts.length = 0;
  clock.now += 30 * 60_000;
  h.sample();
  t.equal(h.series('spot-1').times.length, 1, 'gone for half an hour: its chart is still there');
  clock.now += 30 * 60_000;
  h.sample();
  t.equal(h.series('spot-1').times.length, 0, 'gone for an hour: forgotten');
  t.equal(h.counts.hosts, 0);
  hosts.push({ hostname: 'spot-2', load1: 1, memUsedBytes: 2 });
  h.sample();
  t.same(h.series('spot-2').loads, [1], "the new host's chart has its own sample only");
  t.equal(h.counts.slabs, 1, 'the ring came back to the pool and was used again');
  t.end();
});

t.test('2,000 hosts joining at once take rings from a few slabs, not three buffers each', (t) => {
  const { hosts, history: h } = history();
  for (let i = 0; i < 2000; i++) hosts.push({ hostname: `n${i}`, load1: i, memUsedBytes: i });
  h.sample();
  t.equal(h.counts.hosts, 2000);
  t.equal(h.counts.slabs, 32, '64 hosts a slab');
  for (const host of hosts) host.load1 += 0.5;
  h.sample();
  // Rings cut from one slab must not overlap: every host reads back its own two samples.
  const wrong = hosts.filter((host, i) => h.series(host.hostname).loads.join() !== `${i},${i + 0.5}`).map((host) => host.hostname);
  t.same(wrong, [], 'each host has a ring of its own');
  t.equal(h.counts.slabs, 32, 'known hosts keep their rings');
  t.end();
});
