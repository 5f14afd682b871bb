import type { GroupSpec } from '../../protocol/groups.js';
import type { Instance } from '../providers/provider.js';
import type { AgentDecision, AgentView, TerminateDecision } from './scaling-state.js';

/**
 * Matches what the provider says exists with the agents that connected:
 * - a machine whose agent never said hello within joinDeadlineSeconds is released (and reported:
 *   usually a broken image, bootstrap, or a master address the VPC cannot reach);
 * - a machine whose agent went silent for joinDeadlineSeconds is released;
 * - an agent whose machine is gone (and that is not connected) is marked lost at once, so its
 *   leases go back to the queue without waiting for the heartbeat grace.
 */
export interface Pairing {
  instance: Instance;
  agent: AgentView | undefined;
}

export interface ReconcileResult {
  pairs: Pairing[];
  /** Connected agents with no machine in the provider's list (started by hand, or list lag). */
  unmanagedAgents: AgentView[];
  release: TerminateDecision[];
  markLost: AgentDecision[];
  reasons: string[];
}

export function agentKey(agent: AgentView): string {
  return agent.instanceId ?? agent.agentId;
}

export function reconcile(spec: GroupSpec, instances: Instance[], agents: AgentView[], now: number): ReconcileResult {
  const byKey = new Map<string, AgentView>();
  for (const a of agents) {
    const key = agentKey(a);
    const prev = byKey.get(key);
    // Two agents on one machine id (a restart): the connected one wins.
    if (!prev || (a.connected && !prev.connected) || (a.connected === prev.connected && a.lastSeen > prev.lastSeen)) byKey.set(key, a);
  }
  const deadlineMs = spec.autoscale.joinDeadlineSeconds * 1000;
  const live = instances.filter((i) => i.state !== 'gone');
  // An agent may be keyed by the provider's id or by the name it reports (BatchCompute: the
  // ECS id of its VM); either keeps it from being called lost.
  const liveIds = new Set(live.flatMap((i) => (i.agentName ? [i.id, i.agentName] : [i.id])));
  const pairs: Pairing[] = [];
  const release: TerminateDecision[] = [];
  const reasons: string[] = [];
  for (const instance of live) {
    const agent = byKey.get(instance.agentName ?? instance.id) ?? byKey.get(instance.id);
    pairs.push({ instance, agent });
    if (instance.state === 'stopping' || instance.interrupted) continue;
    if (!agent) {
      const age = now - instance.launchedAt;
      if (age > deadlineMs) {
        const r = `instance ${instance.id} never joined within ${spec.autoscale.joinDeadlineSeconds}s (launched ${Math.round(age / 1000)}s ago): releasing it; check the image, the bootstrap log (/var/log/cloud-init-output.log) and that workers can reach the master`;
        release.push({ instanceId: instance.id, reason: r });
        reasons.push(r);
      }
    } else if (!agent.connected && !agent.lost && now - agent.lastSeen > deadlineMs) {
      const r = `instance ${instance.id}: agent ${agent.agentId} silent for ${Math.round((now - agent.lastSeen) / 1000)}s: releasing the machine`;
      release.push({ instanceId: instance.id, reason: r });
      reasons.push(r);
    }
  }
  const markLost: AgentDecision[] = [];
  const unmanagedAgents: AgentView[] = [];
  for (const agent of byKey.values()) {
    if (agent.lost) continue;
    const key = agentKey(agent);
    if (liveIds.has(key)) continue;
    if (agent.connected) {
      unmanagedAgents.push(agent);
      continue;
    }
    const r = `agent ${agent.agentId}: its machine ${key} is gone from ${spec.provider}: marking it lost`;
    markLost.push({ agentId: agent.agentId, ...(agent.instanceId ? { instanceId: agent.instanceId } : {}), reason: r });
    reasons.push(r);
  }
  return { pairs, unmanagedAgents, release, markLost, reasons };
}
