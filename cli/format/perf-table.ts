import type { PerfRow } from '../../protocol/perf.js';

/** Text table like `brenda-tool perf`. */
export function formatPerf(rows: PerfRow[]): string {
  const head = 'INSTANCE TYPE          HOSTS  TASKS   TASKS/HOUR   TASKS/$      COST';
  const lines = rows.map((r) =>
    [
      r.instanceType.padEnd(22),
      String(r.hosts).padStart(5),
      String(r.tasks).padStart(6),
      r.tasksPerHour.toFixed(2).padStart(12),
      (r.tasksPerDollar === null ? '-' : r.tasksPerDollar.toFixed(2)).padStart(9),
      (r.cost === null ? '-' : r.cost.toFixed(3)).padStart(9),
    ].join(' '),
  );
  return [head, ...lines].join('\n') + '\n';
}
