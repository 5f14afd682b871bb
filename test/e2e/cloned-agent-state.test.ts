import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { TestFarm } from '../helpers/farm.js';

/**
 * Issue 16.4: machines started from an image of a used worker carry its agent state directory.
 * An agent id belongs to one machine: a copy of the state on another machine (here: another
 * machine-id file) gets a new id, so both agents stay connected instead of being refused.
 */
t.test('two agents started from copies of one state directory both stay connected', async (t) => {
  const farm = await TestFarm.start(t);
  const machineA = path.join(farm.home, 'machine-id-a');
  const machineB = path.join(farm.home, 'machine-id-b');
  fs.writeFileSync(machineA, '0123456789abcdef0123456789abcdef\n');
  fs.writeFileSync(machineB, 'fedcba9876543210fedcba9876543210\n');
  const stateOf = (name: string): string => path.join(farm.home, 'agents', name);
  const idOf = (name: string): string => fs.readFileSync(path.join(stateOf(name), 'agent-id'), 'utf8').trim();

  // The worker the image is made from: its agent ran once and left its state.
  await farm.startAgent('node1', { env: { QFARM_MACHINE_ID_FILE: machineA } });
  const originalId = idOf('node1');
  await farm.stopProcess(farm.agents.get('node1'));
  // The "image": a copy of that state directory, including a record of running tasks and an
  // undelivered result, which belong to the machine that wrote them.
  fs.cpSync(stateOf('node1'), stateOf('node2'), { recursive: true });
  fs.writeFileSync(path.join(stateOf('node2'), 'running.json'), JSON.stringify({ 'attempt-of-node1': { pid: 1, starttime: 1, tag: 'x' } }));

  await farm.startAgent('node1', { env: { QFARM_MACHINE_ID_FILE: machineA } });
  await farm.startAgent('node2', { env: { QFARM_MACHINE_ID_FILE: machineB } });
  t.equal(idOf('node1'), originalId, 'the original machine keeps its id (its attempts can be reattached)');
  t.not(idOf('node2'), originalId, 'the copy on another machine made a new id');
  t.notMatch(fs.readFileSync(path.join(stateOf('node2'), 'running.json'), 'utf8'), /attempt-of-node1/, "the other machine's running-task record is dropped");
  t.match(fs.readFileSync(path.join(farm.home, 'agent-node2.log'), 'utf8'), /agent id of another machine/, 'the new machine says why its id changed');

  // Both stay online over several heartbeats; neither is refused (4409) nor retrying.
  await new Promise((r) => setTimeout(r, 3000));
  t.equal(await farm.hostState('node1'), 'online');
  t.equal(await farm.hostState('node2'), 'online');
  t.notMatch(farm.masterLogText(), /is in use by live host/, 'the master never refused either agent');
  const jobs = await Promise.all([1, 2, 3, 4].map(() => farm.submit(['-b', 'y', '-q', 'default', '/bin/true'])));
  for (const job of jobs) await farm.waitForJob(job);
});

t.test('a state directory without a machine binding (from an older agent) gets a new id', async (t) => {
  const farm = await TestFarm.start(t);
  const machine = path.join(farm.home, 'machine-id');
  fs.writeFileSync(machine, '00112233445566778899aabbccddeeff\n');
  const state = path.join(farm.home, 'agents', 'old');
  fs.mkdirSync(state, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(state, 'agent-id'), 'legacy-agent-id\n');
  await farm.startAgent('old', { env: { QFARM_MACHINE_ID_FILE: machine } });
  const id = fs.readFileSync(path.join(state, 'agent-id'), 'utf8').trim();
  t.not(id, 'legacy-agent-id');
  await farm.stopProcess(farm.agents.get('old'));
  await farm.startAgent('old', { env: { QFARM_MACHINE_ID_FILE: machine } });
  t.equal(fs.readFileSync(path.join(state, 'agent-id'), 'utf8').trim(), id, 'once bound, the id survives restarts on the same machine');
});
