import t from 'tap';
import { TestFarm } from '../helpers/farm.js';
import { prettyLine } from '../../logging/pretty-log.js';

/** What operators and load balancers read from the master (issue 13, "Logs"). */

t.test('/healthz and /metrics answer without a token and show counts, never what users submitted', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1, slots: 1 });
  const jobId = await farm.submit(['-N', 'secret-project-name', '-o', '/dev/null', '-e', '/dev/null', '-b', 'y', 'true']);
  await farm.waitForJob(jobId);
  // Two tasks on one slot: the second refills the slot the first freed (one refill; the slot
  // each of the others freed had nothing waiting for it).
  const arrayId = await farm.submit(['-t', '1-2', '-o', '/dev/null', '-e', '/dev/null', '-b', 'y', 'true']);
  await farm.waitForJob(arrayId);

  const health = await fetch(`${farm.url}/healthz`);
  t.equal(health.status, 200);
  t.equal(await health.text(), 'ok\n');

  const res = await fetch(`${farm.url}/metrics`);
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  t.match(text, /^# TYPE qfarm_tasks_pending gauge\nqfarm_tasks_pending 0$/m);
  t.match(text, /^qfarm_agents_connected 1$/m);
  t.match(text, /^qfarm_slots\{state="total"\} 1$/m);
  t.match(text, /^qfarm_tasks_finished_total\{outcome="ok"\} 3$/m);
  t.match(text, /^qfarm_dispatch_latency_seconds_count 3$/m);
  t.match(text, /^qfarm_slot_refill_seconds_count 1$/m);
  t.match(text, /^qfarm_slot_refill_seconds\{quantile="0\.99"\} \d+(\.\d+)?(e-?\d+)?$/m);
  t.match(text, /^qfarm_dispatch_latency_seconds\{quantile="0\.5"\} \d+(\.\d+)?(e-?\d+)?$/m);
  t.notMatch(text, /secret-project-name|root|node1/, 'no job name, user or host name');

  const api = await fetch(`${farm.url}/api/v1/jobs`);
  t.equal(api.status, 401, 'the API itself still wants a token');
  t.notMatch(farm.masterLogText(), /FSTDEP023|DeprecationWarning/, 'no deprecation warning at start');
});

t.test('pretty log lines for a terminal', async (t) => {
  const line = JSON.stringify({ level: 40, time: new Date(2026, 10, 29, 20, 31, 5).getTime(), pid: 1, hostname: 'vm', component: 'hub', msg: 'agent refused', agentId: 'a-1', reason: 'duplicate id' });
  t.equal(prettyLine(line), '20:31:05 WARN  hub: agent refused agentId=a-1 reason="duplicate id"\n');
  t.equal(prettyLine('not json\n'), 'not json\n');
});
