import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { compileGroupSpec } from '../../protocol/groups.js';
import { AlibabaCredentials } from '../../master/providers/alibaba-credentials.js';
import { EcsProvider } from '../../master/providers/ecs-provider.js';
import { FakeAlibaba } from '../../fakes/alibaba/server.js';
import { ROOT, TestFarm } from '../helpers/farm.js';
import { AGENT_MAIN, runAgentStartScript, waitUntilJoined } from '../helpers/bootstrap-script.js';

/**
 * The worker bootstrap's agent-start script, run in a fresh temporary root instead of a VM
 * (test/helpers/bootstrap-script.ts): it reads the master address and token from the user data the ECS provider rendered
 * (served by the fake's metadata service), names the agent after the instance id, and the real
 * built agent joins a real built master. The apt/npm parts of cloud-init are not run here.
 */

for (const variant of ['plain', 'tls'] as const) {
t.test(`an instance launched by the ECS provider joins the ${variant} master through the bootstrap`, { skip: existsSync(AGENT_MAIN) ? false : 'dist/ missing: npm run build' }, async (t) => {
  // With TLS the agent can only join by pinning the fingerprint the user data carries.
  const farm = await TestFarm.start(t, variant === 'tls' ? { masterArgs: ['--tls'] } : {});
  const fake = new FakeAlibaba({ accessKeys: { k: 's' } });
  await fake.listen();
  t.teardown(() => fake.close());
  const provider = new EcsProvider({
    credentials: new AlibabaCredentials('k', 's'),
    farmId: 'boot',
    endpoint: fake.url,
    bootstrap: { masterUrl: farm.url, agentToken: farm.token('agent'), ...(farm.tlsFingerprint ? { tlsFingerprint: farm.tlsFingerprint } : {}) },
  });
  const group = compileGroupSpec({
    name: 'render',
    provider: 'ecs',
    instanceTypes: ['ecs.c6.large'],
    image: 'm-1',
    slotsPerInstance: 2,
    labels: { gpu: 'no' },
    ecs: { regionId: 'cn-hangzhou', vSwitchId: 'vsw', securityGroupId: 'sg' },
  });
  const [inst] = await provider.launch(group, 1, 'boot-1');
  const run = runAgentStartScript(t, { QFARM_METADATA_URL: fake.metadataUrl(inst!.id), QFARM_AGENT_MAIN: AGENT_MAIN });
  await waitUntilJoined(farm, run, inst!.id, 'the bootstrapped agent to come online');
  const hosts = (await farm.api('GET', '/hosts')) as { hosts: { hostname: string; group: string; slots: number; labels: Record<string, string> }[] };
  const host = hosts.hosts.find((h) => h.hostname === inst!.id)!;
  t.equal(host.group, 'render');
  t.equal(host.slots, 2);
  t.equal(host.labels['qfarm.instance-id'], inst!.id, 'the master can pair the agent with its instance');
  t.equal(host.labels.gpu, 'no');
  t.match(run.stderr(), new RegExp(`joining ${farm.url.replace(/[.]/g, '\\.')} as ${inst!.id}`));
  t.notMatch(run.stderr(), farm.token('agent'), 'the token is not printed');
  t.equal(statSync(join(run.root, 'var', 'lib', 'qfarm', 'agent')).mode & 0o777, 0o700);
  if (variant === 'tls') t.match(farm.url, /^https:/);
});
}

t.test('a hand-installed worker (no metadata service) joins by its host name, with no instance-id label', async (t) => {
  const farm = await TestFarm.start(t);
  // Nothing listens on port 9 of loopback: as on a bare-metal machine, the metadata service is absent.
  const run = runAgentStartScript(t, { QFARM_METADATA_URL: 'http://127.0.0.1:9', QFARM_AGENT_MAIN: AGENT_MAIN, QFARM_MASTER: farm.url, QFARM_AGENT_TOKEN: farm.token('agent'), QFARM_LABELS: 'rack=a3' });
  await waitUntilJoined(farm, run, hostname(), 'the hand-installed agent to come online');
  const hosts = (await farm.api('GET', '/hosts')) as { hosts: { hostname: string; labels: Record<string, string> }[] };
  const host = hosts.hosts.find((h) => h.hostname === hostname())!;
  t.same(host.labels, { rack: 'a3' }, 'its own labels only: the master will not take it for a vanished provider machine');
});

t.test('without settings anywhere the start script stops with exit 78 and says what is missing', async (t) => {
  const fake = new FakeAlibaba();
  await fake.listen();
  t.teardown(() => fake.close());
  const run = runAgentStartScript(t, { QFARM_METADATA_URL: fake.metadataUrl('i-none'), QFARM_AGENT_MAIN: '/nonexistent' });
  t.equal(await run.exited, 78);
  t.match(run.stderr(), /no master address: set QFARM_MASTER/);
});

t.test('the cloud-init user data and unit files are well-formed', async (t) => {
  const unit = readFileSync(join(ROOT, 'scripts', 'bootstrap', 'qfarm-agent.service'), 'utf8');
  t.match(unit, /^ExecStart=\/opt\/qfarm\/bootstrap\/qfarm-agent-start\.sh$/m);
  t.match(unit, /^EnvironmentFile=-\/etc\/qfarm\/agent\.env$/m);
  const check = spawn('bash', ['-n', join(ROOT, 'scripts', 'bootstrap', 'cloud-init-user-data.sh')]);
  t.equal(await new Promise((r) => check.once('exit', r)), 0, 'bash -n accepts the user data template');
});
