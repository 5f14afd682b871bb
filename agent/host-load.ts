import fs from 'node:fs/promises';
import os from 'node:os';
import { meminfoBytes } from './inventory.js';

/** The load figures a heartbeat carries (qhost's LOAD MEMUSE SWAPUS). */
export interface HostLoad {
  load1: number;
  memUsedBytes: number;
  swapUsedBytes: number;
}

/** Parses /proc/meminfo text into used memory and swap (used = total - available, as `free` does). */
export function parseMeminfoUsage(text: string): { memUsedBytes: number; swapUsedBytes: number } {
  const total = meminfoBytes(text, 'MemTotal') ?? 0;
  const available = meminfoBytes(text, 'MemAvailable') ?? meminfoBytes(text, 'MemFree') ?? total;
  const swapTotal = meminfoBytes(text, 'SwapTotal') ?? 0;
  const swapFree = meminfoBytes(text, 'SwapFree') ?? swapTotal;
  return { memUsedBytes: Math.max(0, total - available), swapUsedBytes: Math.max(0, swapTotal - swapFree) };
}

/** Current load from /proc (cheap: two small reads), falling back to the os module. */
export async function readHostLoad(): Promise<HostLoad> {
  let load1 = os.loadavg()[0] ?? 0;
  let mem = { memUsedBytes: Math.max(0, os.totalmem() - os.freemem()), swapUsedBytes: 0 };
  try {
    const loadavg = await fs.readFile('/proc/loadavg', 'utf8');
    const first = Number(loadavg.split(' ')[0]);
    if (Number.isFinite(first)) load1 = first;
  } catch {
    // Not Linux: os.loadavg() above.
  }
  try {
    mem = parseMeminfoUsage(await fs.readFile('/proc/meminfo', 'utf8'));
  } catch {
    // Not Linux: os module figures above.
  }
  return { load1: Math.max(0, load1), ...mem };
}
