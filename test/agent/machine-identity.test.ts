import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { loadAgentId } from '../../agent/agent-id.js';
import { readMachineIdentity } from '../../agent/machine-identity.js';
import { FakeEcsMetadataServer } from '../../fakes/oss/ecs-metadata-server.js';

// Issue 16.4: an agent id belongs to one machine. On ECS the instance id (from the metadata
// service, hardened mode) says which machine; elsewhere /etc/machine-id.
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'qfarm-machine-id-'));
t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
const credentials = { AccessKeyId: 'x', AccessKeySecret: 'y', SecurityToken: 'z', Expiration: '2099-01-01T00:00:00Z' };

t.test('on ECS the instance id decides: a copy of the state on another instance gets a new id', async (t) => {
  const metadata = await FakeEcsMetadataServer.start('role', credentials, true);
  t.teardown(() => metadata.close());
  const machineIdFile = path.join(dir, 'same-machine-id'); // an image copies /etc/machine-id too
  await fs.writeFile(machineIdFile, '0123456789abcdef0123456789abcdef\n');
  const state = path.join(dir, 'state-a');
  const first = await readMachineIdentity({ metadataUrl: metadata.url, machineIdFile });
  t.equal(first.source, 'ecs-instance-id');
  t.notMatch(first.digest, metadata.instanceId, 'only a digest of the identity is kept');
  const original = await loadAgentId(state, first);
  t.same(await loadAgentId(state, await readMachineIdentity({ metadataUrl: metadata.url, machineIdFile })), { id: original.id }, 'same instance, same id');

  await fs.cp(state, path.join(dir, 'state-b'), { recursive: true });
  metadata.instanceId = 'i-another-instance';
  const other = await loadAgentId(path.join(dir, 'state-b'), await readMachineIdentity({ metadataUrl: metadata.url, machineIdFile }));
  t.not(other.id, original.id, 'another instance from the same image: a new id');
  t.equal(other.replaced, original.id, 'and it says which id it replaced');
  t.ok(metadata.requests.includes('PUT /latest/api/token'), 'hardened mode: the token is used');
});

t.test('without a metadata service the machine-id file decides; an empty one falls back to the host name', async (t) => {
  const machineIdFile = path.join(dir, 'machine-id');
  await fs.writeFile(machineIdFile, 'fedcba9876543210fedcba9876543210\n');
  const unreachable = 'http://127.0.0.1:9'; // nothing listens: the metadata service is absent
  const byFile = await readMachineIdentity({ metadataUrl: unreachable, machineIdFile, timeoutMs: 500 });
  t.equal(byFile.source, machineIdFile);
  await fs.writeFile(machineIdFile, '');
  const byName = await readMachineIdentity({ machineIdFile });
  t.equal(byName.source, 'hostname', 'an image prepared for cloning has an empty machine-id until first boot');
  const missing = await readMachineIdentity({ machineIdFile: path.join(dir, 'absent') });
  t.equal(missing.source, 'hostname', 'a container without machine-id');
});
