import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import { DEFAULT_METADATA_URL } from './spot-watch.js';

/**
 * What makes this machine this machine, so an agent id is never shared by two of them (a
 * worker image made from a used worker carries the agent's state directory): the ECS instance
 * id from the metadata service when the agent runs on ECS, else systemd's /etc/machine-id, else
 * (a container without one) the host name.
 * Only a digest is kept: machine-id is meant to stay private to the machine.
 */
export interface MachineIdentity {
  /** Where the identity came from, for the log: `ecs-instance-id` or the machine-id file's path. */
  source: string;
  /** SHA-256 (hex) of the source and its value. */
  digest: string;
}

export interface MachineIdentityOptions {
  /** Ask the ECS metadata service (set when the agent knows it runs on ECS: --spot-watch or QFARM_METADATA_URL). */
  metadataUrl?: string;
  /** @default /etc/machine-id (env QFARM_MACHINE_ID_FILE) */
  machineIdFile: string;
  /** Per metadata request. @default 2000 */
  timeoutMs?: number;
}

/** The options the agent process uses: metadata only where the environment says it is on ECS. */
export function machineIdentityOptions(env: NodeJS.ProcessEnv, onEcs: boolean): MachineIdentityOptions {
  const metadataUrl = env['QFARM_METADATA_URL'] || (onEcs ? DEFAULT_METADATA_URL : undefined);
  return { machineIdFile: env['QFARM_MACHINE_ID_FILE'] || '/etc/machine-id', ...(metadataUrl ? { metadataUrl } : {}) };
}

export async function readMachineIdentity(opts: MachineIdentityOptions): Promise<MachineIdentity> {
  if (opts.metadataUrl) {
    const instanceId = await ecsInstanceId(opts.metadataUrl, opts.timeoutMs ?? 2000);
    if (instanceId) return { source: 'ecs-instance-id', digest: digest('ecs-instance-id', instanceId) };
  }
  let text: string;
  try {
    text = (await fs.readFile(opts.machineIdFile, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot read ${opts.machineIdFile} to tell this machine from others: ${(err as Error).message} (set QFARM_MACHINE_ID_FILE to a readable file unique to this machine)`);
    }
    text = '';
  }
  // Containers usually have no machine-id (or an empty one, in images prepared for cloning):
  // their host name is theirs alone (Docker gives each container its own).
  if (text === '') return { source: 'hostname', digest: digest('hostname', os.hostname()) };
  return { source: opts.machineIdFile, digest: digest('machine-id', text) };
}

/** The instance id, or undefined when the metadata service does not answer (not on ECS). */
async function ecsInstanceId(baseUrl: string, timeoutMs: number): Promise<string | undefined> {
  const base = baseUrl.replace(/\/+$/, '');
  try {
    const headers: Record<string, string> = {};
    // Hardened mode (HttpTokens=required) refuses requests without a token.
    const tokenRes = await fetch(`${base}/latest/api/token`, {
      method: 'PUT',
      headers: { 'X-aliyun-ecs-metadata-token-ttl-seconds': '60' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    const token = (await tokenRes.text()).trim();
    if (tokenRes.ok && token) headers['X-aliyun-ecs-metadata-token'] = token;
    const res = await fetch(`${base}/latest/meta-data/instance-id`, { headers, signal: AbortSignal.timeout(timeoutMs) });
    const text = (await res.text()).trim();
    return res.ok && /^[A-Za-z0-9._-]{1,128}$/.test(text) ? text : undefined;
  } catch {
    return undefined; // no metadata service here: the machine-id file decides
  }
}

function digest(kind: string, value: string): string {
  return createHash('sha256').update(`qfarm-machine\n${kind}\n${value}`).digest('hex');
}
