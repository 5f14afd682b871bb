import t from 'tap';
import { perfByInstanceType } from '../../master/groups/perf.js';
import { formatPerf } from '../../cli/format/perf-table.js';

const H = 3_600_000;

t.test('tasks per hour and per dollar by instance type', async (t) => {
  const rec = (hostname: string, startTime: number, endTime: number, failedCode = 0) => ({ hostname, startTime, endTime, failedCode, exitStatus: 0 });
  const records = [
    // big: 2 hosts × 1 h each, 10 tasks each, $0.40/h
    ...Array.from({ length: 10 }, (_, k) => rec('big-1', k * 0.1 * H, (k + 1) * 0.1 * H)),
    ...Array.from({ length: 10 }, (_, k) => rec('big-2', k * 0.1 * H, (k + 1) * 0.1 * H)),
    // small: 1 host × 2 h, 8 tasks, $0.10/h, plus a failed task that does not count
    ...Array.from({ length: 8 }, (_, k) => rec('small-1', k * 0.25 * H, (k + 1) * 0.25 * H)),
    rec('small-1', 0, 1000, 1),
    rec('mystery', 0, H),
  ];
  const hosts = new Map([
    ['big-1', { instanceType: 'ecs.c6.2xlarge', hourlyPrice: 0.4 }],
    ['big-2', { instanceType: 'ecs.c6.2xlarge', hourlyPrice: 0.4 }],
    ['small-1', { instanceType: 'ecs.c6.large', hourlyPrice: 0.1 }],
  ]);
  const rows = perfByInstanceType(records, hosts);
  t.same(rows.map((r) => r.instanceType), ['ecs.c6.large', 'ecs.c6.2xlarge', 'unknown'], 'best tasks/$ first, unpriced last');
  const small = rows[0]!;
  t.equal(small.tasks, 8);
  t.equal(small.tasksPerHour, 4);
  t.equal(small.tasksPerDollar, 40);
  const big = rows[1]!;
  t.equal(big.hosts, 2);
  t.equal(big.tasksPerHour, 10);
  t.equal(big.tasksPerDollar, 25);
  t.equal(rows[2]!.tasksPerDollar, null);
  const text = formatPerf(rows);
  t.match(text, /ecs\.c6\.large\s+1\s+8\s+4\.00\s+40\.00\s+0\.200/);
});
