import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

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

/**
 * Returns the agent's stable id, creating it once. It survives restarts so the master can tell a
 * returning host (and reattach its attempts) from a new one.
 */
export async function loadAgentId(stateDir: string): Promise<string> {
  const file = path.join(stateDir, 'agent-id');
  try {
    await fs.mkdir(stateDir, { recursive: true, mode: 0o700 });
    try {
      const existing = (await fs.readFile(file, 'utf8')).trim();
      if (/^[A-Za-z0-9._-]{1,128}$/.test(existing)) return existing;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const id = randomUUID();
    // Write then rename so a crash never leaves a half-written id.
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, `${id}\n`, { mode: 0o600 });
    await fs.rename(tmp, file);
    return id;
  } catch (err) {
    throw new AgentIdError(file, err as Error);
  }
}
