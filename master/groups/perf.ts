import type { AccountingRecord } from '../../protocol/api.js';
import type { PerfRow } from '../../protocol/perf.js';

/**
 * `qfarm perf`, after `brenda-tool perf`: tasks per hour and tasks per unit of money by
 * instance type, from accounting records. The caller says which instance type and hourly price
 * each host had (from the group's instances at the time).
 */
export interface HostCost {
  instanceType: string;
  hourlyPrice: number | null;
}

type PerfInput = Pick<AccountingRecord, 'hostname' | 'startTime' | 'endTime' | 'failedCode' | 'exitStatus'>;

export function perfByInstanceType(records: PerfInput[], hosts: ReadonlyMap<string, HostCost>): PerfRow[] {
  const perHost = new Map<string, { first: number; last: number; tasks: number; taskMs: number }>();
  for (const r of records) {
    // Only work that counts: a failed task is not throughput.
    if (r.failedCode !== 0 || r.exitStatus !== 0) continue;
    const h = perHost.get(r.hostname) ?? { first: Infinity, last: -Infinity, tasks: 0, taskMs: 0 };
    h.first = Math.min(h.first, r.startTime);
    h.last = Math.max(h.last, r.endTime);
    h.tasks += 1;
    h.taskMs += Math.max(0, r.endTime - r.startTime);
    perHost.set(r.hostname, h);
  }
  const rows = new Map<string, PerfRow & { priced: boolean }>();
  for (const [host, h] of perHost) {
    const cost = hosts.get(host) ?? { instanceType: 'unknown', hourlyPrice: null };
    const row = rows.get(cost.instanceType) ?? { instanceType: cost.instanceType, hosts: 0, tasks: 0, taskHours: 0, hostHours: 0, tasksPerHour: 0, tasksPerDollar: null, cost: 0, priced: true };
    const hostHours = Math.max(0, h.last - h.first) / 3_600_000;
    row.hosts += 1;
    row.tasks += h.tasks;
    row.taskHours += h.taskMs / 3_600_000;
    row.hostHours += hostHours;
    if (cost.hourlyPrice === null) row.priced = false;
    else row.cost = (row.cost ?? 0) + hostHours * cost.hourlyPrice;
    rows.set(cost.instanceType, row);
  }
  return [...rows.values()]
    .map(({ priced, ...row }) => ({
      ...row,
      tasksPerHour: row.hostHours > 0 ? row.tasks / row.hostHours : 0,
      cost: priced ? row.cost : null,
      tasksPerDollar: priced && row.cost && row.cost > 0 ? row.tasks / row.cost : null,
    }))
    .sort((a, b) => (b.tasksPerDollar ?? -1) - (a.tasksPerDollar ?? -1) || b.tasksPerHour - a.tasksPerHour);
}
