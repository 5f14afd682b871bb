import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { GroupSpec, ProviderKind } from '../../protocol/groups.js';
import { credentialsFromEnv } from './alibaba-credentials.js';
import { BatchComputeProvider } from './batchcompute-provider.js';
import { EcsProvider } from './ecs-provider.js';
import { LocalProvider } from './local-provider.js';
import { silentLogger, type Provider, type ProviderLogger } from './provider.js';

/**
 * One provider instance per kind for the whole master, created on first use (so a farm with
 * only local groups never needs cloud credentials). The master calls `providerFor(spec)` and
 * `close()` at shutdown.
 */
export interface ProviderRegistrySettings {
  qfarmHome: string;
  /** The master's own URL (local agents dial this). */
  masterUrl: string;
  agentToken: string;
  /** SHA-256 fingerprint of the master's TLS certificate when it serves https; workers pin it. */
  tlsFingerprint?: string;
  /**
   * What cloud workers dial: a VPC address of the master, not 127.0.0.1.
   * @default env QFARM_WORKER_MASTER_URL, else masterUrl
   */
  workerMasterUrl?: string;
  /** Tags this farm's instances. @default env QFARM_FARM_ID, else a hash of qfarmHome */
  farmId?: string;
  /** npm spec of the agent for images without it baked in. @default env QFARM_AGENT_PACKAGE or 'qfarm' */
  agentPackage?: string;
  env?: NodeJS.ProcessEnv;
  logger?: ProviderLogger;
  now?: () => number;
}

export class ProviderRegistry {
  private readonly providers = new Map<ProviderKind, Provider>();
  constructor(private readonly settings: ProviderRegistrySettings) {}

  providerFor(spec: Pick<GroupSpec, 'provider'>): Provider {
    let p = this.providers.get(spec.provider);
    if (!p) {
      p = this.create(spec.provider);
      this.providers.set(spec.provider, p);
    }
    return p;
  }

  private create(kind: ProviderKind): Provider {
    const s = this.settings;
    const env = s.env ?? process.env;
    const logger = s.logger ?? silentLogger;
    const now = s.now ?? Date.now;
    switch (kind) {
      case 'local':
        return new LocalProvider({ masterUrl: s.masterUrl, agentToken: s.agentToken, ...(s.tlsFingerprint ? { tlsFingerprint: s.tlsFingerprint } : {}), stateRoot: join(s.qfarmHome, 'local-agents'), logger, now, env });
      case 'ecs':
        return new EcsProvider({
          credentials: credentialsFromEnv(env, 'ecs'),
          farmId: s.farmId ?? env.QFARM_FARM_ID ?? farmIdFor(s.qfarmHome),
          bootstrap: {
            masterUrl: workerUrl(s.workerMasterUrl ?? env.QFARM_WORKER_MASTER_URL ?? s.masterUrl, s.tlsFingerprint),
            agentToken: s.agentToken,
            ...(s.tlsFingerprint ? { tlsFingerprint: s.tlsFingerprint } : {}),
            agentPackage: s.agentPackage ?? env.QFARM_AGENT_PACKAGE ?? 'qfarm',
          },
          ...(env.QFARM_ECS_ENDPOINT ? { endpoint: env.QFARM_ECS_ENDPOINT } : {}),
          logger,
          now,
        });
      case 'batchcompute':
        return new BatchComputeProvider({
          credentials: credentialsFromEnv(env, 'batchcompute'),
          ...(env.QFARM_BATCHCOMPUTE_ENDPOINT ? { endpoint: env.QFARM_BATCHCOMPUTE_ENDPOINT } : {}),
          logger,
          now,
        });
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.providers.values()].map((p) => p.close?.()));
  }
}

/**
 * A TLS master answers only TLS on its port: an `http://` worker URL written before TLS was on
 * (e.g. QFARM_WORKER_MASTER_URL in a unit file) would leave every worker unable to join.
 */
export function workerUrl(url: string, tlsFingerprint: string | undefined): string {
  return tlsFingerprint && url.startsWith('http://') ? 'https://' + url.slice('http://'.length) : url;
}

/** Stable per QFARM_HOME, short enough for a tag value. */
export function farmIdFor(qfarmHome: string): string {
  return 'qfarm-' + createHash('sha256').update(qfarmHome).digest('hex').slice(0, 12);
}
