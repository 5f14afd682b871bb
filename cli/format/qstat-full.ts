import type { HostView, QstatRow } from '../../protocol/api.js';
import { jobColumns, taskColumn } from './qstat-table.js';

const HEADER = 'queuename                      qtype resv/used/tot. load_avg arch          states\n';
const RULE = '---------------------------------------------------------------------------------\n';
const HASHES = '############################################################################\n';
const PENDING = ' - PENDING JOBS - PENDING JOBS - PENDING JOBS - PENDING JOBS - PENDING JOBS\n';

function jobLine(row: QstatRow): string {
  return `${jobColumns(row)} ${String(row.slots).padStart(5)} ${taskColumn(row)}\n`;
}

/**
 * SGE's queue states: `au` alarm+unknown (host not connected), `d` disabled, `E` error (a
 * black-hole host, test/fixtures/sge/host-error.txt: `dE` when both).
 */
export function queueStates(host: HostView): string {
  const base = host.state === 'offline' ? 'au' : host.state === 'disabled' ? 'd' : '';
  return host.error !== undefined ? `${base}E` : base;
}

interface QueueInstance {
  name: string;
  host: HostView | null;
}

/**
 * `qstat -f`: every queue instance (`group@host`, SGE's queue@host) with its slots, load and
 * running jobs, then the pending jobs block. Queue instances are sorted by name, as SGE does.
 */
export function formatQstatFull(hosts: readonly HostView[], rows: readonly QstatRow[]): string {
  const instances = new Map<string, QueueInstance>();
  for (const host of hosts) {
    const name = `${host.group}@${host.hostname}`;
    instances.set(name, { name, host });
  }
  // A running task on a host the master no longer lists still shows, under its own queue.
  for (const row of rows) if (row.queue !== '' && !instances.has(row.queue)) instances.set(row.queue, { name: row.queue, host: null });
  const pending = rows.filter((row) => row.queue === '');
  if (instances.size === 0 && pending.length === 0) return '';
  let text = HEADER;
  for (const instance of [...instances.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const host = instance.host;
    const running = rows.filter((row) => row.queue === instance.name);
    const used = host ? host.slotsUsed : running.reduce((sum, row) => sum + row.slots, 0);
    const total = host ? host.slots : used;
    const load = host && host.load !== null && host.state !== 'offline' ? host.load.toFixed(2) : '-NA-';
    const arch = host ? host.arch : '-NA-';
    text += RULE;
    text += `${instance.name.padEnd(30)} ${'BI'.padEnd(5)} ${`0/${used}/${total}`.padEnd(14)} ${load.padEnd(8)} ${arch.padEnd(13)} ${host ? queueStates(host) : 'au'}\n`;
    for (const row of running) text += jobLine(row);
  }
  if (pending.length > 0) {
    text += `\n${HASHES}${PENDING}${HASHES}`;
    for (const row of pending) text += jobLine(row);
  }
  return text;
}
