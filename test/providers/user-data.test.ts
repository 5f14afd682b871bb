import t from 'tap';
import { spawnSync } from 'node:child_process';
import { compileGroupSpec } from '../../protocol/groups.js';
import { renderUserData, shellQuote } from '../../master/providers/user-data.js';

const group = compileGroupSpec({
  name: 'gatk',
  provider: 'ecs',
  image: 'm-1',
  instanceTypes: ['ecs.r6.xlarge'],
  slotsPerInstance: 4,
  labels: { mem: 'high' },
  userData: 'mkdir -p /mnt/nas && echo mounted',
  ecs: { regionId: 'r', vSwitchId: 'v', securityGroupId: 's' },
});

t.test('rendered user data is valid shell, quotes every value and runs the group snippet before the agent', async (t) => {
  const text = renderUserData(group, { masterUrl: 'http://10.0.0.1:7878', agentToken: "a'b $(x) `y`", agentPackage: 'https://example.invalid/qfarm-0.1.0.tgz' });
  t.equal(spawnSync('bash', ['-n'], { input: text }).status, 0, 'bash -n accepts it');
  // Evaluate only the assignments, as the shell would, to prove the quoting round-trips.
  const assignments = text.split('\n').filter((l) => /^QFARM_[A-Z_]+=/.test(l)).join('\n');
  const out = spawnSync('bash', ['-c', `${assignments}\nprintf '%s\\n' "$QFARM_AGENT_TOKEN" "$QFARM_SLOTS" "$QFARM_LABELS" "$QFARM_GROUP"`], { encoding: 'utf8' });
  t.same(out.stdout.split('\n').slice(0, 4), ["a'b $(x) `y`", '4', 'mem=high', 'gatk']);
  t.ok(text.indexOf('echo mounted') < text.indexOf('systemctl enable --now qfarm-agent.service'));
  t.equal(shellQuote("it's"), `'it'\\''s'`);
});

t.test('user data over the ECS limit is refused with a clear error', async (t) => {
  const big = { ...group, userData: 'x'.repeat(12 * 1024) + '\n' + 'y'.repeat(4 * 1024) };
  t.throws(() => renderUserData(big, { masterUrl: 'http://m', agentToken: 't' }), /over ECS's 16384: shorten the group's userData/);
});

t.test('user data carries the TLS fingerprint the worker agent pins, and the bootstrap passes it on', async (t) => {
  const fingerprint = 'AB:'.repeat(31) + 'CD';
  const text = renderUserData(group, { masterUrl: 'https://10.0.0.1:6480', agentToken: 't', tlsFingerprint: fingerprint });
  t.match(text, `QFARM_TLS_FINGERPRINT='${fingerprint}'`);
  t.match(text, /^QFARM_TLS_FINGERPRINT=\$\{QFARM_TLS_FINGERPRINT\}$/m, 'written to /etc/qfarm/agent.env for the agent service');
  t.match(renderUserData(group, { masterUrl: 'http://10.0.0.1:6480', agentToken: 't' }), /^QFARM_TLS_FINGERPRINT=''$/m, 'empty for a plain master');
});
