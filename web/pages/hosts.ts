import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get, live, post, type Session } from '../api.js';
import { useInOrder } from '../in-order.js';
import { Chart } from '../chart.js';
import { bytes } from '../format.js';

interface HostView {
  hostname: string;
  group: string;
  ncpu: number;
  load: number | null;
  memTotalBytes: number;
  memUsedBytes: number | null;
  slots: number;
  slotsUsed: number;
  state: string;
  /** Why the host is in SGE's error state E (protocol/api.ts HostView.error); absent when it is not. */
  error?: string;
  labels: Record<string, string>;
}

type History = Record<string, { times: number[]; loads: number[]; memUsed: number[] }>;

export function HostsPage(props: { session: Session; notify: (text: string, ok: boolean) => void }) {
  const [hosts, setHosts] = useState<HostView[] | null>(null);
  const [history, setHistory] = useState<History>({});
  const [tick, setTick] = useState(0);
  const hostsInOrder = useInOrder();
  const historyInOrder = useInOrder();
  useEffect(() => {
    hostsInOrder(get<{ hosts: HostView[] }>('/hosts'), (r) => setHosts(r.hosts), (e) => props.notify(e.message, false));
    historyInOrder(get<{ hosts: History }>('/web/hosts/history'), (r) => setHistory(r.hosts), (e) => props.notify(e.message, false));
  }, [tick]);
  useEffect(() => live(['hosts'], () => setTick((t) => t + 1)), []);
  // The API routes of qmod -d/-e/-c: the master checks who may (admins), not this page.
  const act = async (h: HostView, action: 'enable' | 'disable' | 'clear-error') => {
    try {
      const r = await post<{ messages: { text: string; ok: boolean }[] }>(`/hosts/${encodeURIComponent(h.hostname)}/${action}`);
      for (const m of r.messages) props.notify(m.text, m.ok);
    } catch (e) {
      props.notify((e as Error).message, false);
    }
    setTick((t) => t + 1);
  };
  return html`<section class="hosts">
    ${hosts?.length === 0 ? html`<p class="muted">No host has joined yet: start an agent (qfarm agent) or let a group scale up.</p>` : ''}
    <div class="host-grid">
      ${hosts?.map((h) => {
        const hist = history[h.hostname];
        return html`<div class=${`host-card ${h.state}${h.error !== undefined ? ' error' : ''}`} data-host=${h.hostname} key=${h.hostname}>
          <div class="host-title"><strong>${h.hostname}</strong><span><span class=${`state ${h.state}`}>${h.state}</span>${h.error !== undefined ? html`<span class="state error" title="SGE's error state E: the host takes no new tasks until an admin clears it (qmod -c)">error (E)</span>` : ''}</span></div>
          ${h.error !== undefined ? html`<p class="host-error">${h.error}</p>` : ''}
          <div class="host-facts">
            <span>group <b>${h.group}</b></span><span>slots <b>${h.slotsUsed}/${h.slots}</b></span>
            <span>load <b>${h.load === null ? '-' : h.load.toFixed(2)}</b> / ${h.ncpu} cpu</span>
            <span>mem <b>${bytes(h.memUsedBytes)}</b> / ${bytes(h.memTotalBytes)}</span>
          </div>
          <div class="slots">${Array.from({ length: Math.min(h.slots, 64) }, (_, i) => html`<span class=${i < h.slotsUsed ? 'slot used' : 'slot'}></span>`)}</div>
          ${hist && hist.times.length > 0
            ? html`<${Chart} title=${`load of ${h.hostname}`} data=${[hist.times.map((t) => t / 1000), hist.loads]} series=${[{ label: 'load', stroke: '#f5a524', fill: 'rgba(245,165,36,0.15)' }]} width=${300} height=${90} />`
            : html`<div class="chart-empty muted">no load samples yet</div>`}
          ${props.session.mayActOnAll
            ? html`<div class="host-actions">
                <button onClick=${() => act(h, h.state === 'disabled' ? 'enable' : 'disable')}>${h.state === 'disabled' ? 'enable' : 'disable'}</button>
                ${h.error !== undefined ? html`<button onClick=${() => act(h, 'clear-error')}>clear error</button>` : ''}
              </div>`
            : ''}
        </div>`;
      })}
    </div>
  </section>`;
}
