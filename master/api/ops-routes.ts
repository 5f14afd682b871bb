import type { FastifyInstance } from 'fastify';
import { farmCounts } from '../store/farm-counts.js';
import type { ApiContext } from './context.js';
import { REFILL_WINDOW_MS } from '../refill-latency.js';

/**
 * Routes for load balancers and monitoring, outside /api/v1 and without authentication:
 * `/healthz` (200 when the master can read its store, else 503) and Prometheus `/metrics`.
 * Neither names a user, job, command or host: counts and durations only, so anyone who can
 * reach the port learns nothing a user submitted (what `qstat` shows needs the API).
 */
export function registerOpsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/healthz', async (_req, reply) => {
    try {
      farmCounts(ctx.db).ping();
      return reply.type('text/plain; charset=utf-8').send('ok\n');
    } catch (err) {
      return reply.code(503).type('text/plain; charset=utf-8').send(`store unavailable: ${(err as Error).message}\n`);
    }
  });

  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(metricsText(ctx, Date.now())));
}

/** How far back the dispatch latency summary looks. */
const LATENCY_WINDOW_MS = 5 * 60_000;

/** The Prometheus text exposition of the farm's state, read from the store and the agent hub. */
export function metricsText(ctx: ApiContext, now: number): string {
  const counts = farmCounts(ctx.db);
  const pending = ctx.reader.pendingTaskCount();
  const sessions = ctx.hub.sessionsList();
  const slotsTotal = sessions.reduce((sum, s) => sum + s.hello.slots, 0);
  const slotsUsed = sessions.reduce((sum, s) => sum + s.usedSlots(), 0);
  const latencies = counts.dispatchLatenciesMs(now - LATENCY_WINDOW_MS).map((ms) => Math.max(0, ms) / 1000);
  const quantile = (q: number): number => (latencies.length === 0 ? Number.NaN : latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!);

  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter' | 'summary', help: string, samples: Array<[labels: string, value: number]>): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${Number.isNaN(value) ? 'NaN' : value}`);
  };
  metric('qfarm_tasks_pending', 'gauge', 'Tasks waiting in the queue (array tasks not yet dispatched included).', [['', pending]]);
  metric('qfarm_tasks_running', 'gauge', 'Tasks leased to or running on an agent.', [['', counts.activeTaskCount()]]);
  metric('qfarm_jobs_unfinished', 'gauge', 'Jobs that have not finished and were not deleted.', [['', counts.liveJobCount()]]);
  metric('qfarm_agents_connected', 'gauge', 'Agents connected to the master now.', [['', sessions.length]]);
  metric('qfarm_agent_heartbeat_interval_seconds', 'gauge', 'How often agents are told to heartbeat (it grows with the farm); a silent agent is dropped after 3.', [['', ctx.hub.heartbeatMs() / 1000]]);
  metric('qfarm_hosts_known', 'gauge', 'Hosts the master has seen, connected or not.', [['', counts.knownHostCount()]]);
  metric('qfarm_slots', 'gauge', 'Slots of the connected agents, by use.', [['{state="total"}', slotsTotal], ['{state="used"}', slotsUsed]]);
  metric('qfarm_dispatch_latency_seconds', 'summary', `From the master's lease to the task's start on its agent, over the last ${LATENCY_WINDOW_MS / 60_000} minutes.`, [
    ['{quantile="0.5"}', quantile(0.5)],
    ['{quantile="0.9"}', quantile(0.9)],
    ['{quantile="0.99"}', quantile(0.99)],
    ['_sum', latencies.reduce((a, b) => a + b, 0)],
    ['_count', latencies.length],
  ]);
  const refills = ctx.hub.refills.summary();
  metric('qfarm_slot_refill_seconds', 'summary', `From a result's arrival at the master to the next task written to its host, when work was queued for it, over the last ${REFILL_WINDOW_MS / 60_000} to ${(2 * REFILL_WINDOW_MS) / 60_000} minutes.`, [
    ['{quantile="0.5"}', refills.p50],
    ['{quantile="0.9"}', refills.p90],
    ['{quantile="0.99"}', refills.p99],
    ['_sum', refills.sum],
    ['_count', refills.count],
  ]);
  const finished = counts.finishedTaskCounts();
  metric('qfarm_tasks_finished_total', 'counter', 'Tasks finished, by outcome.', [
    ['{outcome="ok"}', finished.ok],
    ['{outcome="failed"}', finished.failed],
  ]);
  return lines.join('\n') + '\n';
}
