import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { MachineIdentity } from './machine-identity.js';

/** The state directory could not be created or the id file is unreadable: the agent cannot start. */
export class AgentIdError extends Error {
  constructor(
    readonly file: string,
    override readonly cause: Error,
  ) {
    super(`cannot read or create the agent id in ${file}: ${cause.message} (check --state-dir permissions)`);
    this.name = 'AgentIdError';
  }
}

export interface LoadedAgentId {
  id: string;
  /** The id the state directory held for another machine (or without a machine binding), replaced now. */
  replaced?: string;
}

/**
 * State that belongs to the machine the directory was used on, not to the directory: the tasks
 * that machine ran (running.json) and the results it had not delivered. A copy of the directory
 * on another machine must not kill or report them.
 */
const MACHINE_STATE = ['running.json', 'results'];

/**
 * Returns the agent's stable id, creating it once. It survives restarts so the master can tell a
 * returning host (and reattach its attempts) from a new one. The id is bound to the machine
 * (`agent-machine` holds the digest of its identity): a state directory copied to another
 * machine (a worker image made from a used worker) gets a new id there, so two machines never
 * present one id (the master refuses the second connection).
 */
export async function loadAgentId(stateDir: string, machine: MachineIdentity): Promise<LoadedAgentId> {
  const file = path.join(stateDir, 'agent-id');
  const machineFile = path.join(stateDir, 'agent-machine');
  try {
    await fs.mkdir(stateDir, { recursive: true, mode: 0o700 });
    const existing = await readOrUndefined(file);
    const boundTo = await readOrUndefined(machineFile);
    if (existing !== undefined && /^[A-Za-z0-9._-]{1,128}$/.test(existing) && boundTo === machine.digest) return { id: existing };
    // Another machine's state (or an id from before the binding): start this machine afresh.
    for (const name of MACHINE_STATE) await fs.rm(path.join(stateDir, name), { recursive: true, force: true });
    const id = randomUUID();
    // Binding first, then the id: a crash in between leaves an unbound old id, replaced again next start.
    await writeAtomically(machineFile, `${machine.digest}\n`);
    await writeAtomically(file, `${id}\n`);
    return existing ? { id, replaced: existing } : { id };
  } catch (err) {
    throw new AgentIdError(file, err as Error);
  }
}

async function readOrUndefined(file: string): Promise<string | undefined> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Write then rename so a crash never leaves a half-written file. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, text, { mode: 0o600 });
  await fs.rename(tmp, file);
}
