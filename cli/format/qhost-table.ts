import type { HostView } from '../../protocol/api.js';
import { qhostMemory } from './sge-memory.js';
import { queueStates } from './qstat-full.js';

const HEADER =
  'HOSTNAME                ARCH         NCPU NSOC NCOR NTHR  LOAD  MEMTOT  MEMUSE  SWAPTO  SWAPUS\n' +
  '----------------------------------------------------------------------------------------------\n';

function line(cols: [string, string, string, string, string, string, string, string, string, string, string]): string {
  const [host, arch, ncpu, nsoc, ncor, nthr, load, memtot, memuse, swapto, swapus] = cols;
  return (
    `${host.slice(0, 23).padEnd(23)} ${arch.slice(0, 13).padEnd(13)}${ncpu.padStart(4)} ${nsoc.padStart(4)} ${ncor.padStart(4)} ${nthr.padStart(4)}` +
    ` ${load.padStart(5)} ${memtot.padStart(7)} ${memuse.padStart(7)} ${swapto.padStart(7)} ${swapus.padStart(7)}\n`
  );
}

/**
 * `qhost`: the `global` pseudo host, then one line per host. A host that is not connected
 * keeps its inventory but shows `-` for load and memory in use, as SGE shows a host whose
 * execd is down. `-q` adds each host's queue instance and its states (`d`, `E`, `au`).
 */
export function formatQhost(hosts: readonly HostView[], opts: { queues?: boolean } = {}): string {
  let text = HEADER + line(['global', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-']);
  const sorted = [...hosts].sort((a, b) => (a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : 0));
  for (const h of sorted) {
    const connected = h.state !== 'offline';
    const known = (value: number | null, format: (n: number) => string): string => (connected && value !== null ? format(value) : '-');
    text += line([
      h.hostname,
      h.arch,
      String(h.ncpu),
      String(h.nsoc),
      String(h.ncor),
      String(h.nthr),
      known(h.load, (n) => n.toFixed(2)),
      qhostMemory(h.memTotalBytes),
      known(h.memUsedBytes, qhostMemory),
      qhostMemory(h.swapTotalBytes),
      known(h.swapUsedBytes, qhostMemory),
    ]);
    // -q: the host's queue instance (its group) with slots and states, as SGE 8.1.9 prints it.
    if (opts.queues) text += `   ${h.group.padEnd(20)} ${'BI'.padEnd(5)} ${`0/${h.slotsUsed}/${h.slots}`.padEnd(13)} ${queueStates(h)}\n`;
  }
  return text;
}
