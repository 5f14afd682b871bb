import t from 'tap';
import { once } from 'node:events';
import { SpotWatch, type SpotNotice } from '../../agent/spot-watch.js';
import { FakeAlibaba } from '../../fakes/alibaba/server.js';

t.test('the agent-side spot watch sees the reclaim notice from the metadata service', async (t) => {
  const fake = new FakeAlibaba();
  await fake.listen();
  t.teardown(() => fake.close());
  const res = fake.ecs.handle('RunInstances', { RegionId: 'cn-hangzhou', InstanceType: 'ecs.c6.large', ImageId: 'm-1', SpotStrategy: 'SpotAsPriceGo' }) as { InstanceIdSets: { InstanceIdSet: string[] } };
  const id = res.InstanceIdSets.InstanceIdSet[0]!;
  const watch = new SpotWatch({ baseUrl: fake.metadataUrl(id), intervalMs: 20 });
  t.equal(await watch.checkOnce(), null, '404: no notice');
  const notices: SpotNotice[] = [];
  watch.on('notice', (n) => notices.push(n));
  watch.start();
  t.teardown(() => watch.stop());
  const when = fake.ecs.interrupt(id, 300_000);
  const [notice] = (await once(watch, 'notice', { signal: AbortSignal.timeout(5000) })) as [SpotNotice];
  t.equal(notice.terminationTime, when);
  t.ok(Math.abs(notice.terminationAt - (Date.now() + 300_000)) < 5000);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(notices.length, 1, 'one event per notice, not one per poll');
  t.ok(fake.log.some((l) => l.what === '/latest/api/token'), 'asked for a metadata token (hardened mode)');
});

t.test('an unreachable metadata service is reported once, and polling goes on', async (t) => {
  const fake = new FakeAlibaba();
  await fake.listen();
  const url = fake.url;
  await fake.close();
  const watch = new SpotWatch({ baseUrl: url, intervalMs: 10, timeoutMs: 200 });
  const errors: Error[] = [];
  watch.on('error', (e) => errors.push(e));
  watch.start();
  await new Promise((r) => setTimeout(r, 200));
  watch.stop();
  t.equal(errors.length, 1);
  t.match(errors[0]!.message, /cannot read .*termination-time/);
});
