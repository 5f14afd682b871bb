import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { JobListPage, type JobListRow } from '../../protocol/web-api.js';
import { getChecked, live, post, type ActionResponse, type Session } from '../api.js';
import { useInOrder } from '../in-order.js';
import { ago, duration } from '../format.js';

const PAGE = 50;

/** Done, failed, running and deleted as one bar; the numbers in its title and beside it. */
export function Progress(props: { row: Pick<JobListRow, 'total' | 'done' | 'failed' | 'running' | 'deleted' | 'pending'> }) {
  const r = props.row;
  const pct = (n: number): string => `${(100 * n) / Math.max(1, r.total)}%`;
  return html`<div class="progress" title=${`${r.done} done, ${r.failed} failed, ${r.running} running, ${r.pending} waiting, ${r.deleted} deleted of ${r.total}`}>
    <div class="bar">
      <span class="seg done" style=${{ width: pct(r.done) }}></span><span class="seg failed" style=${{ width: pct(r.failed) }}></span><span class="seg running" style=${{ width: pct(r.running) }}></span><span class="seg deleted" style=${{ width: pct(r.deleted) }}></span>
    </div>
    <span class="count">${r.done + r.failed}/${r.total}</span>
  </div>`;
}

/** A destructive button that asks once more in place (no browser dialog), then acts. */
export function ConfirmButton(props: { label: string; confirmLabel: string; onConfirm: () => unknown }) {
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    if (!armed) return;
    const t = setTimeout(() => setArmed(false), 4000);
    return () => clearTimeout(t);
  }, [armed]);
  return html`<button class=${armed ? 'danger armed' : 'danger'} onClick=${() => (armed ? (setArmed(false), props.onConfirm()) : setArmed(true))}>${armed ? props.confirmLabel : props.label}</button>`;
}

/** Runs one of the API's job actions and shows what the master answered (its SGE wording). */
export async function jobAction(route: string, body: unknown, notify: (text: string, ok: boolean) => void): Promise<void> {
  try {
    const res = await post<ActionResponse>(route, body);
    for (const m of res.messages) notify(m.text, m.ok);
  } catch (err) {
    notify((err as Error).message, false);
  }
}

export function JobsPage(props: { session: Session; notify: (text: string, ok: boolean) => void }) {
  const [filters, setFilters] = useState({ user: '', group: '', state: 'active', search: '' });
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<JobListPage | null>(null);
  const [tick, setTick] = useState(0);
  const [now, setNow] = useState(Date.now());
  const inOrder = useInOrder();

  useEffect(() => {
    const q = new URLSearchParams({ ...filters, offset: String(offset), limit: String(PAGE) });
    inOrder(getChecked(`/web/jobs?${q}`, JobListPage), (p) => (setPage(p), setNow(Date.now())), (e) => props.notify(e.message, false));
  }, [filters, offset, tick]);
  useEffect(() => live(['jobs'], () => setTick((t) => t + 1)), []);

  const set = (k: keyof typeof filters) => (e: Event) => (setOffset(0), setFilters({ ...filters, [k]: (e.target as HTMLInputElement).value }));
  const act = (route: string, id: number, extra: object = {}) => jobAction(route, { targets: [{ job: String(id) }], ...extra }, props.notify).then(() => setTick((t) => t + 1));
  const mine = (row: JobListRow) => row.user === props.session.user || props.session.mayActOnAll;

  return html`<section>
    <div class="toolbar">
      <input type="search" placeholder="Search job names" value=${filters.search} onInput=${set('search')} aria-label="search by name" />
      <input placeholder="user" value=${filters.user} onChange=${set('user')} aria-label="filter by user" size="10" />
      <input placeholder="group" value=${filters.group} onChange=${set('group')} aria-label="filter by group" size="10" />
      <select value=${filters.state} onChange=${set('state')} aria-label="filter by state">
        <option value="active">active</option><option value="finished">finished</option><option value="all">all</option>
      </select>
      <span class="muted">${page ? `${page.total} job${page.total === 1 ? '' : 's'}` : 'loading…'}</span>
    </div>
    <table class="jobs">
      <thead><tr><th>id</th><th>name</th><th>user</th><th>group</th><th>state</th><th class="wide">progress</th><th>submitted</th><th>running for</th><th>prio</th><th></th></tr></thead>
      <tbody>
        ${page?.rows.map(
          (row) => html`<tr key=${row.id} data-job=${row.id}>
            <td><a href=${`#/job/${row.id}`}>${row.id}</a></td>
            <td class="name"><a href=${`#/job/${row.id}`}>${row.name}</a></td>
            <td>${row.user}</td>
            <td>${row.group}</td>
            <td><span class=${`state ${row.state}`}>${row.state}</span></td>
            <td><${Progress} row=${row} /></td>
            <td>${ago(row.submitted)}</td>
            <td>${row.started ? duration((row.finishedAt ?? now) - row.started) : ''}</td>
            <td>${row.priority}</td>
            <td class="actions">
              ${mine(row) && row.state !== 'finished' && row.state !== 'deleted'
                ? html`${row.state === 'held'
                      ? html`<button onClick=${() => act('/jobs/release', row.id)} title="release (qrls)">release</button>`
                      : html`<button onClick=${() => act('/jobs/hold', row.id)} title="hold (qhold)">hold</button>`}
                    <${ConfirmButton} label="delete" confirmLabel="really delete?" onConfirm=${() => act('/jobs/delete', row.id, { users: [], force: false })} />`
                : ''}
            </td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${page && page.total > PAGE
      ? html`<div class="pager"><button disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - PAGE))}>‹ newer</button><span>${offset + 1}–${Math.min(offset + PAGE, page.total)} of ${page.total}</span><button disabled=${offset + PAGE >= page.total} onClick=${() => setOffset(offset + PAGE)}>older ›</button></div>`
      : ''}
  </section>`;
}
