import type { TaskRange } from './job-spec.js';

/** Task ids of a range, in order. */
export function* taskIds(range: TaskRange): Generator<number> {
  for (let id = range.first; id <= range.last; id += range.step) yield id;
}

/** Number of tasks in a range. */
export function taskCount(range: TaskRange): number {
  return range.last < range.first ? 0 : Math.floor((range.last - range.first) / range.step) + 1;
}

/** Is this id one of the range's tasks? */
export function rangeHas(range: TaskRange, id: number): boolean {
  return id >= range.first && id <= range.last && (id - range.first) % range.step === 0;
}

/**
 * Compresses sorted task ids the way `qstat` prints them: one arithmetic run as `3-5:1`,
 * otherwise a comma list of runs (`1,3,4` or `1-5:2,8`).
 */
export function formatTaskIds(ids: readonly number[]): string {
  if (ids.length === 0) return '';
  if (ids.length === 1) return String(ids[0]);
  const runs: string[] = [];
  let i = 0;
  while (i < ids.length) {
    const start = ids[i]!;
    if (i + 1 >= ids.length) {
      runs.push(String(start));
      break;
    }
    const step = ids[i + 1]! - start;
    let j = i + 1;
    while (j + 1 < ids.length && ids[j + 1]! - ids[j]! === step) j++;
    // A run of three or more, or a whole list that is one run of two, prints as a range.
    if (j - i >= 2 || (i === 0 && j === ids.length - 1)) {
      runs.push(`${start}-${ids[j]}:${step}`);
      i = j + 1;
    } else {
      runs.push(String(start));
      i++;
    }
  }
  return runs.join(',');
}

/** Parses `N`, `N-M` or `N-M:S` (SGE's `-t` syntax). Returns null when malformed. */
export function parseTaskRange(text: string): TaskRange | null {
  const m = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(text.trim());
  if (!m) return null;
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  const step = m[3] === undefined ? 1 : Number(m[3]);
  if (first < 1 || last < first || step < 1 || !Number.isSafeInteger(last)) return null;
  return { first, last, step };
}
