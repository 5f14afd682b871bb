/** Memory amounts in the units SGE's clients print. */

const KB = 1024;
const MB = KB * 1024;
const GB = MB * 1024;
const TB = GB * 1024;

/** qhost's columns: `23.5G`, `183.0M`, `0.0` (one decimal, binary units). */
export function qhostMemory(bytes: number): string {
  if (bytes >= TB) return `${(bytes / TB).toFixed(1)}T`;
  if (bytes >= GB) return `${(bytes / GB).toFixed(1)}G`;
  if (bytes >= MB) return `${(bytes / MB).toFixed(1)}M`;
  if (bytes >= KB) return `${(bytes / KB).toFixed(1)}K`;
  return bytes.toFixed(1);
}

/** qacct's fields: `3.422MB`, `45.089KB`, `0.000B` (three decimals, binary units). */
export function qacctMemory(bytes: number): string {
  if (bytes >= TB) return `${(bytes / TB).toFixed(3)}TB`;
  if (bytes >= GB) return `${(bytes / GB).toFixed(3)}GB`;
  if (bytes >= MB) return `${(bytes / MB).toFixed(3)}MB`;
  if (bytes >= KB) return `${(bytes / KB).toFixed(3)}KB`;
  return `${bytes.toFixed(3)}B`;
}

/** qstat -j's usage vmem: `3.422M`, or `N/A` before the first sample. */
export function qstatVmem(bytes: number): string {
  if (bytes <= 0) return 'N/A';
  if (bytes >= GB) return `${(bytes / GB).toFixed(3)}G`;
  if (bytes >= MB) return `${(bytes / MB).toFixed(3)}M`;
  if (bytes >= KB) return `${(bytes / KB).toFixed(3)}K`;
  return bytes.toFixed(3);
}

export const bytesPerGB = GB;
