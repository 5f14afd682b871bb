import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get, live, post, type Session } from '../api.js';
import { useInOrder } from '../in-order.js';
import { ago } from '../format.js';

interface Group {
  spec: { name: string; provider: string; minSize: number; maxSize: number; desiredSize: number; instanceTypes?: string[]; autoscale: { enabled: boolean } };
  desired: number;
  healthy: number;
  instances: { id: string; state: string; agent: string | null; instanceType: string | null; launchedAt: number; spot: boolean; interrupted: boolean }[];
  reasons: string[];
  lastError: string | null;
}

export function GroupsPage(props: { session: Session; notify: (text: string, ok: boolean) => void }) {
  const [groups, setGroups] = useState<Group[] | null>(null);
  const [tick, setTick] = useState(0);
  const inOrder = useInOrder();
  const [sizes, setSizes] = useState<Record<string, string>>({});
  useEffect(() => inOrder(get<{ groups: Group[] }>('/groups'), (r) => setGroups(r.groups), (e) => props.notify(e.message, false)), [tick]);
  useEffect(() => live(['groups', 'hosts'], () => setTick((t) => t + 1)), []);
  const resize = async (name: string) => {
    try {
      await post(`/groups/${encodeURIComponent(name)}/resize`, { desiredSize: Number(sizes[name]) });
      props.notify(`group ${name} resized to ${sizes[name]}`, true);
    } catch (e) {
      props.notify((e as Error).message, false);
    }
    setTick((t) => t + 1);
  };
  return html`<section class="groups">${groups?.map(
    (g) => html`<div class="group-card" key=${g.spec.name}>
      <div class="host-title"><strong>${g.spec.name}</strong><span class="muted">${g.spec.provider}${g.spec.autoscale.enabled ? ' · autoscaled' : ''}</span></div>
      <div class="host-facts"><span>min <b>${g.spec.minSize}</b></span><span>desired <b>${g.desired}</b></span><span>max <b>${g.spec.maxSize}</b></span><span>healthy <b>${g.healthy}</b></span></div>
      ${g.lastError ? html`<div class="error-box"><b>last provider error</b><div>${g.lastError}</div></div>` : ''}
      ${g.reasons.length ? html`<ul class="reasons">${g.reasons.map((r) => html`<li>${r}</li>`)}</ul>` : ''}
      ${g.instances.length
        ? html`<table><thead><tr><th>machine</th><th>state</th><th>agent</th><th>type</th><th>launched</th></tr></thead><tbody>${g.instances.map(
            (i) => html`<tr><td>${i.id}</td><td><span class=${`state ${i.state}`}>${i.state}${i.interrupted ? ' (interrupted)' : ''}</span></td><td>${i.agent ?? ''}</td><td>${i.instanceType ?? ''}${i.spot ? ' spot' : ''}</td><td>${ago(i.launchedAt)}</td></tr>`,
          )}</tbody></table>`
        : html`<p class="muted">no machines started by a provider</p>`}
      ${props.session.mayActOnAll
        ? html`<form class="inline" onSubmit=${(e: Event) => (e.preventDefault(), resize(g.spec.name))}><input type="number" min="0" placeholder=${String(g.desired)} value=${sizes[g.spec.name] ?? ''} onInput=${(e: Event) => setSizes({ ...sizes, [g.spec.name]: (e.target as HTMLInputElement).value })} aria-label="desired size" size="4" /><button type="submit">resize</button></form>`
        : ''}
    </div>`,
  )}</section>`;
}
