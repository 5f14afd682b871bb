import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { PerfResponse, type PerfRow } from '../../protocol/perf.js';
import { getChecked } from '../api.js';
import { Chart } from '../chart.js';

/** `qfarm perf` as charts: tasks per hour and per unit of money, by instance type. */
export function AccountingPage(props: { notify: (text: string, ok: boolean) => void }) {
  const [rows, setRows] = useState<PerfRow[] | null>(null);
  useEffect(() => void getChecked('/perf', PerfResponse).then((r) => setRows(r.rows), (e: Error) => props.notify(e.message, false)), []);
  if (!rows) return html`<p class="muted">loading…</p>`;
  if (rows.length === 0) return html`<p class="muted">No finished tasks yet: accounting fills as tasks end.</p>`;
  const xs = rows.map((_, i) => i + 1);
  return html`<section class="accounting">
    <div class="charts">
      <div><h3>tasks / hour</h3><${Chart} xTime=${false} xLabels=${rows.map((r) => r.instanceType)} bars=${true} data=${[xs, rows.map((r) => r.tasksPerHour)]} series=${[{ label: 'tasks/h', stroke: '#f5a524', fill: 'rgba(245,165,36,0.5)' }]} width=${420} height=${160} /></div>
      <div><h3>tasks / $</h3><${Chart} xTime=${false} xLabels=${rows.map((r) => r.instanceType)} bars=${true} data=${[xs, rows.map((r) => r.tasksPerDollar ?? 0)]} series=${[{ label: 'tasks/$', stroke: '#5ab0ff', fill: 'rgba(90,176,255,0.5)' }]} width=${420} height=${160} /></div>
    </div>
    <table><thead><tr><th>#</th><th>instance type</th><th>hosts</th><th>tasks</th><th>task hours</th><th>host hours</th><th>tasks/h</th><th>tasks/$</th><th>cost</th></tr></thead>
      <tbody>${rows.map((r, i) => html`<tr><td>${i + 1}</td><td>${r.instanceType}</td><td>${r.hosts}</td><td>${r.tasks}</td><td>${r.taskHours.toFixed(2)}</td><td>${r.hostHours.toFixed(2)}</td><td>${r.tasksPerHour.toFixed(1)}</td><td>${r.tasksPerDollar === null ? 'no price' : r.tasksPerDollar.toFixed(1)}</td><td>${r.cost === null ? '' : r.cost.toFixed(2)}</td></tr>`)}</tbody></table>
  </section>`;
}
