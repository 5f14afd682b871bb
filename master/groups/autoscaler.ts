import type { GroupSpec } from '../../protocol/groups.js';
import type { Clock } from '../clock.js';
import { ProviderError } from '../providers/errors.js';
import { silentLogger, type Instance, type Provider, type ProviderLogger } from '../providers/provider.js';
import { planGroup } from './plan.js';
import type { AgentView, PendingWork, ScalingHistory, ScalingPlan } from './scaling-state.js';

/**
 * Carries out plans: asks the provider what exists, plans (pure), launches and terminates, and
 * returns the rest (drain, lost, interrupted) for the master to apply to its own state. One pass
 * per group at a time; the master calls `step` on queue events and on a slow timer.
 */

export interface StepInput {
  spec: GroupSpec;
  agents: AgentView[];
  pending: PendingWork[];
}

export interface StepResult {
  plan: ScalingPlan;
  launched: Instance[];
  terminated: string[];
  /** Provider failures of this pass (named errors: quota, stock, image, auth, unavailable). */
  errors: ProviderError[];
}

export interface AutoscalerOptions {
  /** Provider of a group (by spec.provider); the master owns the instances. */
  providerFor: (spec: GroupSpec) => Provider;
  clock: Clock;
  logger?: ProviderLogger;
  /** Restored history (cooldowns) per group, if the master persisted it. */
  history?: Record<string, ScalingHistory>;
}

interface GroupMemory {
  history: ScalingHistory;
  /** Launched but not yet listed by the provider (lists are eventually consistent). */
  unlisted: Instance[];
  /** A launch whose outcome is unknown (retries ran out): retried with the same token and count. */
  unsettledLaunch?: { token: string; count: number; at: number };
  running: Promise<StepResult> | undefined;
  seq: number;
}

export class Autoscaler {
  private readonly groups = new Map<string, GroupMemory>();
  private readonly logger: ProviderLogger;

  constructor(private readonly options: AutoscalerOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  history(group: string): ScalingHistory {
    return { ...this.memory(group).history };
  }

  private memory(group: string): GroupMemory {
    let m = this.groups.get(group);
    if (!m) {
      m = { history: { ...this.options.history?.[group] }, unlisted: [], running: undefined, seq: 0 };
      this.groups.set(group, m);
    }
    return m;
  }

  /**
   * One pass for one group; concurrent calls for the same group wait for the pass in flight.
   * Rejects with a ProviderError only when the provider cannot even list the group's machines.
   */
  async step(input: StepInput): Promise<StepResult> {
    const m = this.memory(input.spec.name);
    while (m.running) await m.running.catch(() => undefined);
    const run = this.doStep(input, m);
    m.running = run;
    try {
      return await run;
    } finally {
      m.running = undefined;
    }
  }

  private async doStep(input: StepInput, m: GroupMemory): Promise<StepResult> {
    const { spec } = input;
    const provider = this.options.providerFor(spec);
    const errors: ProviderError[] = [];
    // Without the provider's list there is nothing safe to decide: the pass fails as a whole.
    const listed = await provider.list(spec).catch((err: unknown) => {
      throw asProviderError(err, spec);
    });
    const listedIds = new Set(listed.map((i) => i.id));
    const now = this.options.clock.now();
    const graceMs = spec.autoscale.joinDeadlineSeconds * 1000;
    m.unlisted = m.unlisted.filter((i) => !listedIds.has(i.id) && now - i.launchedAt < graceMs);
    const instances = [...listed, ...m.unlisted];
    const plan = planGroup({ spec, instances, agents: input.agents, pending: input.pending, history: m.history }, now);
    const launched: Instance[] = [];
    const terminated: string[] = [];

    if (plan.terminate.length > 0) {
      const ids = plan.terminate.map((t) => t.instanceId);
      try {
        await provider.terminate(spec, ids);
        terminated.push(...ids);
        m.unlisted = m.unlisted.filter((i) => !ids.includes(i.id));
        // Releasing never-joined or silent machines is repair, not scale-in: only victims count.
        if (plan.terminate.some((t) => t.reason.startsWith('scale in'))) m.history.lastScaleInAt = now;
      } catch (err) {
        errors.push(asProviderError(err, spec));
      }
    }

    // After the join deadline the provider's list is the truth about an unsettled launch; reusing
    // its token later would make ECS answer with the old batch instead of starting new machines.
    if (m.unsettledLaunch && now - m.unsettledLaunch.at > graceMs) m.unsettledLaunch = undefined;
    if (plan.launch > 0) {
      const attempt = m.unsettledLaunch ?? { token: `qfarm-${spec.name}-${now.toString(36)}-${++m.seq}`, count: plan.launch, at: now };
      m.history.lastScaleOutAt = now;
      try {
        const got = await provider.launch(spec, attempt.count, attempt.token);
        m.unsettledLaunch = undefined;
        launched.push(...got);
        m.unlisted.push(...got.filter((i) => !listedIds.has(i.id)));
      } catch (err) {
        const e = asProviderError(err, spec);
        // Unknown outcome: the same token next time, so ECS returns this batch instead of a second one.
        m.unsettledLaunch = e.retryable ? attempt : undefined;
        errors.push(e);
      }
    }
    for (const e of errors) this.logger.warn(`autoscaler: group ${spec.name}: ${e.message}`, { code: e.code });
    for (const r of plan.reasons) this.logger.info(`autoscaler: group ${spec.name}: ${r}`);
    return { plan, launched, terminated, errors };
  }
}

function asProviderError(err: unknown, spec: GroupSpec): ProviderError {
  if (err instanceof ProviderError) return err;
  return new ProviderError(`${spec.provider} provider failed for group ${spec.name}: ${(err as Error)?.message ?? String(err)}`, { provider: spec.provider, group: spec.name });
}
