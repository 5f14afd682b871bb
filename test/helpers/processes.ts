import * as fs from 'node:fs';

/** Pids of the processes whose command line contains every one of `parts`, from /proc (never the test's own). */
export function processesNaming(...parts: string[]): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (parts.every((part) => cmdline.includes(part))) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

/** Whether a process whose argv names `marker` (a path only that test's task mentions) runs. */
export function processRunning(marker: string): boolean {
  return processesNaming(marker).length > 0;
}
