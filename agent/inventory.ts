import fs from 'node:fs/promises';
import os from 'node:os';

/** What hello reports about the machine (qhost's ARCH NCPU NSOC NCOR NTHR MEMTOT SWAPTO). */
export interface Inventory {
  arch: string;
  cpus: number;
  sockets: number;
  cores: number;
  threads: number;
  memTotalBytes: number;
  swapTotalBytes: number;
}

/** SGE's architecture strings (`lx-amd64`), so qhost output matches what SGE users read. */
export function sgeArch(platform: NodeJS.Platform = process.platform, arch: string = process.arch): string {
  const os = platform === 'linux' ? 'lx' : platform === 'darwin' ? 'darwin' : platform === 'freebsd' ? 'fbsd' : platform;
  const cpu: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: 'x86', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return `${os}-${cpu[arch] ?? arch}`;
}

/**
 * Counts sockets, cores and hardware threads from /proc/cpuinfo. Virtual machines and ARM often
 * omit `physical id`/`core id`; then every logical CPU is one core of one socket.
 */
export function parseCpuinfo(text: string): { sockets: number; cores: number; threads: number } {
  const sockets = new Set<string>();
  const cores = new Set<string>();
  let threads = 0;
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of block.split('\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) fields.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    if (!fields.has('processor')) continue;
    threads++;
    const socket = fields.get('physical id');
    const core = fields.get('core id');
    if (socket !== undefined) sockets.add(socket);
    if (socket !== undefined && core !== undefined) cores.add(`${socket}/${core}`);
  }
  return {
    threads: Math.max(threads, 1),
    sockets: Math.max(sockets.size, 1),
    cores: Math.max(cores.size || threads, 1),
  };
}

/** Reads one `Key: N kB` line of /proc/meminfo as bytes. */
export function meminfoBytes(text: string, key: string): number | undefined {
  const m = new RegExp(`^${key}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** Inventory from /proc where present, from the os module elsewhere. */
export async function readInventory(): Promise<Inventory> {
  const logical = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  let topology = { sockets: 1, cores: logical, threads: logical };
  let memTotalBytes = os.totalmem();
  let swapTotalBytes = 0;
  try {
    topology = parseCpuinfo(await fs.readFile('/proc/cpuinfo', 'utf8'));
  } catch {
    // Not Linux: keep the os-module view.
  }
  try {
    const meminfo = await fs.readFile('/proc/meminfo', 'utf8');
    memTotalBytes = meminfoBytes(meminfo, 'MemTotal') ?? memTotalBytes;
    swapTotalBytes = meminfoBytes(meminfo, 'SwapTotal') ?? 0;
  } catch {
    // Not Linux: swap unknown, reported as 0.
  }
  return {
    arch: sgeArch(),
    cpus: Math.max(1, logical),
    sockets: topology.sockets,
    cores: topology.cores,
    threads: Math.max(topology.threads, 1),
    memTotalBytes,
    swapTotalBytes,
  };
}
