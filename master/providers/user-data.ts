import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GroupSpec } from '../../protocol/groups.js';

/**
 * Renders the cloud-init user data that joins a fresh machine to this master
 * (scripts/bootstrap/cloud-init-user-data.sh), with every value shell-quoted.
 */

export interface BootstrapSettings {
  /** URL the workers dial (reachable from the VPC, not 127.0.0.1). */
  masterUrl: string;
  agentToken: string;
  /**
   * SHA-256 fingerprint of the master's TLS certificate: the worker's agent pins it, so a
   * machine in the path cannot pose as the master and collect the agent token.
   */
  tlsFingerprint?: string;
  /** npm tarball URL, package name or git URL of qfarm for images without the agent. */
  agentPackage?: string;
}

const TEMPLATE = 'scripts/bootstrap/cloud-init-user-data.sh';
/** ECS's UserData limit (raw, before base64). */
export const USER_DATA_LIMIT_BYTES = 16 * 1024;

/** Single-quotes a value for sh: 'it'\''s'. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

let cachedTemplate: string | undefined;
/** Finds the template from source (master/providers) or build output (dist/master/providers). */
export function loadUserDataTemplate(): string {
  if (cachedTemplate !== undefined) return cachedTemplate;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, TEMPLATE);
    if (existsSync(candidate)) return (cachedTemplate = readFileSync(candidate, 'utf8'));
    dir = dirname(dir);
  }
  throw new Error(`cannot find ${TEMPLATE} above ${fileURLToPath(import.meta.url)}: install qfarm with its scripts/ directory`);
}

export function renderUserData(group: GroupSpec, settings: BootstrapSettings, template = loadUserDataTemplate()): string {
  const labels = Object.entries(group.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const values: Record<string, string> = {
    QFARM_MASTER: settings.masterUrl,
    QFARM_AGENT_TOKEN: settings.agentToken,
    QFARM_TLS_FINGERPRINT: settings.tlsFingerprint ?? '',
    QFARM_GROUP: group.name,
    QFARM_SLOTS: String(group.slotsPerInstance),
    QFARM_LABELS: labels,
    QFARM_AGENT_PACKAGE: settings.agentPackage ?? 'qfarm',
  };
  let text = template.replace(/@@([A-Z_]+)@@/g, (whole, name: string) => (name in values ? shellQuote(values[name]!) : whole));
  // The group's own extra shell runs before the agent starts (mounts, extra packages).
  if (group.userData) text = text.replace(/^systemctl daemon-reload$/m, `# --- group ${group.name} user data\n${group.userData}\n# ---\nsystemctl daemon-reload`);
  if (Buffer.byteLength(text) > USER_DATA_LIMIT_BYTES) {
    throw new Error(`user data for group ${group.name} is ${Buffer.byteLength(text)} bytes, over ECS's ${USER_DATA_LIMIT_BYTES}: shorten the group's userData or bake it into the image`);
  }
  return text;
}
