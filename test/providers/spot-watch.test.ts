import t from 'tap';
import { once } from 'node:events';
import { SpotWatch, type SpotNotice } from '../../agent/spot-watch.js';
import { FakeAlibaba } from '../../fakes/alibaba/server.js';

/** A SpotWatch that says when it has finished N more polls: negative checks wait on polls, not on time. */
class CountedWatch extends SpotWatch {
  private polls = 0;
  private waiters: { at: number; resolve: () => void }[] = [];

  override async checkOnce(): Promise<SpotNotice | null> {
    try {
      return await super.checkOnce();
    } finally {
      this.polls++;
      this.waiters = this.waiters.filter((w) => (this.polls >= w.at ? (w.resolve(), false) : true));
    }
  }

  /**
   * Resolves once `n` more polls than now have ended. Its deadline timer also keeps the test
   * alive: the watch's own timers are unref'd, as an agent's must be.
   */
  morePolls(n: number, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`the spot watch did not finish ${n} more polls in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ at: this.polls + n, resolve: () => (clearTimeout(deadline), resolve()) });
    });
  }
}

t.test('the agent-side spot watch sees the reclaim notice from the metadata service', async (t) => {
  const fake = new FakeAlibaba();
  await fake.listen();
  t.teardown(() => fake.close());
  const res = fake.ecs.handle('RunInstances', { RegionId: 'cn-hangzhou', InstanceType: 'ecs.c6.large', ImageId: 'm-1', SpotStrategy: 'SpotAsPriceGo' }) as { InstanceIdSets: { InstanceIdSet: string[] } };
  const id = res.InstanceIdSets.InstanceIdSet[0]!;
  const watch = new CountedWatch({ baseUrl: fake.metadataUrl(id), intervalMs: 20 });
  t.equal(await watch.checkOnce(), null, '404: no notice');
  const notices: SpotNotice[] = [];
  watch.on('notice', (n) => notices.push(n));
  watch.start();
  t.teardown(() => watch.stop());
  const when = fake.ecs.interrupt(id, 300_000);
  const [notice] = (await once(watch, 'notice', { signal: AbortSignal.timeout(5000) })) as [SpotNotice];
  t.equal(notice.terminationTime, when);
  t.ok(Math.abs(notice.terminationAt - (Date.now() + 300_000)) < 5000);
  await watch.morePolls(5);
  t.equal(notices.length, 1, 'one event per notice, not one per poll (5 more polls saw it)');
  t.ok(fake.log.some((l) => l.what === '/latest/api/token'), 'asked for a metadata token (hardened mode)');
});

t.test('an unreachable metadata service is reported once, and polling goes on', async (t) => {
  const fake = new FakeAlibaba();
  await fake.listen();
  const url = fake.url;
  await fake.close();
  const watch = new CountedWatch({ baseUrl: url, intervalMs: 10, timeoutMs: 200 });
  const errors: Error[] = [];
  watch.on('error', (e) => errors.push(e));
  const fivePolls = watch.morePolls(5);
  watch.start();
  await fivePolls;
  watch.stop();
  t.equal(errors.length, 1, 'five failed polls, one error');
  t.match(errors[0]!.message, /cannot read .*termination-time/);
});
