import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { TaskPage, type TaskPageRow } from '../../protocol/web-api.js';
import { get, getChecked, live, type Session } from '../api.js';
import { useInOrder } from '../in-order.js';
import { Chart } from '../chart.js';
import { ago, bytes, duration } from '../format.js';
import { FrameGrid } from './frames.js';
import { ConfirmButton, jobAction } from './jobs.js';

type Detail = Record<string, unknown> & { jobId: number; name: string; submitter: { user: string }; priority: number; hold: boolean; deleted: boolean; array: { first: number; last: number; step: number } | null; command: unknown; schedulingInfo: string[] };

const PAGE = 100;

/** A job's command as a person reads it: the argv, or the script's name and arguments. */
function commandText(command: unknown): string {
  const c = command as { kind: string; argv?: string[]; scriptName?: string; args?: string[] };
  return c.kind === 'binary' ? (c.argv ?? []).join(' ') : [c.scriptName ?? 'script', ...(c.args ?? [])].join(' ');
}

/** `-l` requests as `qstat -j` words them: h_rt, h_vmem, mem_free and the rest by name. */
function resourcesText(resources: unknown): string {
  const r = resources as { wallclockSeconds?: number; vmemBytes?: number; memFreeBytes?: number; other?: Record<string, string> };
  const parts = [r.wallclockSeconds ? `h_rt=${r.wallclockSeconds}` : '', r.vmemBytes ? `h_vmem=${bytes(r.vmemBytes)}` : '', r.memFreeBytes ? `mem_free=${bytes(r.memFreeBytes)}` : ''];
  for (const [k, v] of Object.entries(r.other ?? {})) parts.push(`${k}=${v}`);
  return parts.filter(Boolean).join(', ');
}

/** `qstat -j`'s options as a definition list: every value as text. */
function Options(props: { job: Detail }) {
  const j = props.job;
  const show = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));
  const fields: [string, unknown][] = [
    ['owner', j.submitter.user],
    ['submitted', ago(j['submitTime'] as number)],
    ['command', commandText(j.command)],
    ['working dir', j['cwd']],
    ['queue', j['queue'] ?? 'default'],
    ['slots', j['slots']],
    ['priority', j.priority],
    ['tasks', j.array ? `${j.array.first}-${j.array.last}:${j.array.step}` : 'single'],
    ['resources', resourcesText(j['resources'])],
    ['hold', j.hold ? 'user hold' : ''],
    ['data', j['data']],
  ];
  return html`<dl class="options">${fields.filter(([, v]) => show(v) !== '' && show(v) !== '{}').map(([k, v]) => html`<dt>${k}</dt><dd>${show(v)}</dd>`)}
    ${j.schedulingInfo.length ? html`<dt>scheduling</dt><dd>${j.schedulingInfo.join('\n')}</dd>` : ''}</dl>`;
}

/** The tail of a task's output: loaded once, then appended live from the page's stream. */
function LogTail(props: { jobId: number; taskId: number; text: string }) {
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    if (pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [props.text]);
  return html`<div class="log"><h3>output of task ${props.jobId}.${props.taskId}</h3><pre ref=${pre} class="log-text">${props.text}</pre></div>`;
}

export function JobPage(props: { id: number; session: Session; notify: (text: string, ok: boolean) => void }) {
  const [job, setJob] = useState<Detail | null>(null);
  const [tasks, setTasks] = useState<TaskPage | null>(null);
  const [offset, setOffset] = useState(0);
  const [tick, setTick] = useState(0);
  const [selected, setSelected] = useState<number | null>(null);
  const [log, setLog] = useState('');
  const [usage, setUsage] = useState<Record<number, { t: number[]; cpu: number[]; rss: number[] }>>({});
  const [newPriority, setNewPriority] = useState('');
  const lastCpu = useRef<Record<number, { t: number; cpu: number }>>({});
  const jobInOrder = useInOrder();
  const tasksInOrder = useInOrder();

  useEffect(() => {
    jobInOrder(get<{ jobs: Detail[] }>(`/jobs/${props.id}`), (r) => setJob(r.jobs[0] ?? null), (e) => props.notify(e.message, false));
    tasksInOrder(getChecked(`/web/jobs/${props.id}/tasks?offset=${offset}&limit=${PAGE}`, TaskPage), (p) => {
      setTasks(p);
      // Usage over time of running tasks as this page saw it (the master keeps only the latest):
      // cores = CPU seconds gained per second between two looks.
      const t = Date.now() / 1000;
      setUsage((prev) => {
        const next = { ...prev };
        for (const r of p.rows) {
          if (r.state !== 'running' || r.cpuSeconds === null) continue;
          const seen = lastCpu.current[r.taskId];
          lastCpu.current[r.taskId] = { t, cpu: r.cpuSeconds };
          if (!seen || t - seen.t < 0.5) continue;
          const h = next[r.taskId] ?? { t: [], cpu: [], rss: [] };
          next[r.taskId] = { t: [...h.t, t].slice(-120), cpu: [...h.cpu, Math.max(0, (r.cpuSeconds - seen.cpu) / (t - seen.t))].slice(-120), rss: [...h.rss, (r.rssBytes ?? 0) / 2 ** 20].slice(-120) };
        }
        return next;
      });
    }, (e) => props.notify(e.message, false));
  }, [props.id, offset, tick]);

  useEffect(() => {
    const topics = [`job:${props.id}`];
    if (selected !== null) topics.push(`log:${props.id}.${selected}`);
    let cancelled = false;
    if (selected !== null) {
      fetch(`/api/v1/logs/${props.id}/${selected}`, { credentials: 'same-origin' }).then(async (r) => !cancelled && setLog(r.ok ? await r.text() : `(${(await r.json()).error})`));
    }
    const close = live(topics, () => setTick((t) => t + 1), (text) => setLog((l) => (l + text).slice(-200_000)));
    return () => ((cancelled = true), close());
  }, [props.id, selected, tasks?.rows.find((r) => r.taskId === selected)?.state === 'running']);

  if (!job) return html`<section><p class="muted">loading job ${props.id}…</p></section>`;
  const mine = job.submitter.user === props.session.user || props.session.mayActOnAll;
  const act = (route: string, extra: object = {}) => jobAction(route, { targets: [{ job: String(job.jobId) }], ...extra }, props.notify).then(() => setTick((t) => t + 1));
  const running = tasks?.rows.filter((r) => r.state === 'running' && usage[r.taskId] && usage[r.taskId]!.t.length > 1) ?? [];
  return html`<section>
    <div class="job-head">
      <h2><span class="muted">job ${job.jobId}</span> <span class="job-name">${job.name}</span></h2>
      ${mine && !job.deleted
        ? html`<div class="actions">
            ${job.hold ? html`<button onClick=${() => act('/jobs/release')}>release</button>` : html`<button onClick=${() => act('/jobs/hold')}>hold</button>`}
            <form class="inline" onSubmit=${(e: Event) => (e.preventDefault(), newPriority !== '' && act('/jobs/alter', { changes: { priority: Number(newPriority) } }))}>
              <input type="number" min="-1023" max="1024" placeholder=${String(job.priority)} value=${newPriority} onInput=${(e: Event) => setNewPriority((e.target as HTMLInputElement).value)} aria-label="priority" size="5" />
              <button type="submit">set priority</button>
            </form>
            ${tasks?.rows.some((r) => r.state === 'failed') ? html`<button onClick=${() => jobAction(`/web/jobs/${job.jobId}/rerun-failed`, {}, props.notify).then(() => setTick((t) => t + 1))}>rerun failed tasks</button>` : ''}
            <${ConfirmButton} label="delete job" confirmLabel="really delete?" onConfirm=${() => act('/jobs/delete', { users: [], force: false })} />
          </div>`
        : ''}
    </div>
    <${Options} job=${job} />
    <${FrameGrid} jobId=${job.jobId} tick=${tick} />
    ${running.length
      ? html`<div class="usage"><h3>running tasks: CPU (cores) and memory (MiB)</h3><div class="charts">${running.slice(0, 8).map(
          (r) => html`<div class="usage-chart"><span>task ${r.taskId} on ${r.host}</span><${Chart} data=${[usage[r.taskId]!.t, usage[r.taskId]!.cpu, usage[r.taskId]!.rss]} series=${[{ label: 'cores', stroke: '#f5a524' }, { label: 'MiB', stroke: '#5ab0ff' }]} width=${240} height=${70} /></div>`,
        )}</div></div>`
      : ''}
    <div class="split">
      <div class="tasks">
        <table class="tasks">
          <thead><tr><th>task</th><th>state</th><th>host</th><th>tries</th><th>start</th><th>wall</th><th>exit / reason</th><th>cpu</th><th>rss</th></tr></thead>
          <tbody>${tasks?.rows.map(
            (r) => html`<tr key=${r.taskId} data-task=${r.taskId} class=${selected === r.taskId ? 'selected' : ''} onClick=${() => (setSelected(r.taskId), setLog(''))}>
              <td>${r.taskId}</td><td><span class=${`state ${r.state}`}>${r.state}</span></td><td>${r.host ?? ''}</td><td>${r.attempts || ''}</td>
              <td>${ago(r.started)}</td><td>${r.started ? duration((r.ended ?? Date.now()) - r.started) : ''}</td>
              <td class="reason">${r.failedReason ?? (r.exitStatus ?? '')}</td><td>${r.cpuSeconds !== null ? r.cpuSeconds.toFixed(1) + 's' : ''}</td><td>${r.rssBytes ? bytes(r.rssBytes) : ''}</td>
            </tr>`,
          )}</tbody>
        </table>
        ${tasks && tasks.total > PAGE
          ? html`<div class="pager"><button disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - PAGE))}>‹</button><span>tasks ${offset + 1}–${Math.min(offset + PAGE, tasks.total)} of ${tasks.total}</span><button disabled=${offset + PAGE >= tasks.total} onClick=${() => setOffset(offset + PAGE)}>›</button></div>`
          : ''}
      </div>
      ${selected !== null ? html`<${LogTail} jobId=${job.jobId} taskId=${selected} text=${log} />` : html`<div class="log muted">Pick a task to tail its output.</div>`}
    </div>
  </section>`;
}
