/**
 * Parsers for the value syntaxes of SGE options (sge_types(1)): time, memory, yes/no, and the
 * comma lists of `-v` and `-l`. Pure functions returning null (or throwing a plain Error with
 * the reason) so each verb can word its own message.
 */

/** `HH:MM:SS`, `MM:SS` or seconds (fields may be empty, `::30`), as SGE's time_specifier. */
export function parseTimeSeconds(text: string): number | null {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const m = /^(\d*):(\d*)(?::(\d*))?$/.exec(t);
  if (!m) return null;
  const parts = m[3] === undefined ? ['', m[1]!, m[2]!] : [m[1]!, m[2]!, m[3]];
  const [h, min, s] = parts.map((p) => (p === '' ? 0 : Number(p))) as [number, number, number];
  return h * 3600 + min * 60 + s;
}

/** SGE's memory multipliers: lower case are powers of 1000, upper case powers of 1024. */
const memoryMultiplier: Record<string, number> = {
  '': 1,
  b: 1,
  B: 1,
  k: 1e3,
  K: 1024,
  m: 1e6,
  M: 1024 ** 2,
  g: 1e9,
  G: 1024 ** 3,
  t: 1e12,
  T: 1024 ** 4,
};

/** `4G`, `512M`, `1024K`, `1.5g` or plain bytes, as SGE's memory_specifier. */
export function parseMemoryBytes(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)([bBkKmMgGtT]?)$/.exec(text.trim());
  if (!m) return null;
  const bytes = Number(m[1]) * memoryMultiplier[m[2]!]!;
  return Number.isFinite(bytes) ? Math.round(bytes) : null;
}

/** Prints bytes back the way people write them (`1G`, `500M`), exact or as plain bytes. */
export function formatMemorySpec(bytes: number): string {
  for (const [unit, size] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

/** `y|yes|n|no` (SGE accepts both spellings), else null. */
export function parseYesNo(text: string): boolean | null {
  const t = text.toLowerCase();
  if (t === 'y' || t === 'yes') return true;
  if (t === 'n' || t === 'no') return false;
  return null;
}

/**
 * Splits `a,b="x,y",c` at commas outside quotes and removes the quotes, so a value may contain
 * a comma when it is quoted for qsub itself (`-v 'A="x,y"'` on a command line, or
 * `#$ -v A="x,y"` in a script, where qfarm keeps the quotes for this step).
 */
export function splitQuotedList(text: string): string[] {
  const items: string[] = [];
  let current = '';
  let quote: '"' | "'" | null = null;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = null;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === ',') {
      items.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in "${text}"`);
  items.push(current);
  return items.filter((item) => item !== '');
}

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `-v VAR[=val],...`: a variable without a value takes its value from qsub's own environment
 * (SGE's rule); one that is not set there is exported empty.
 */
export function parseEnvList(text: string, environment: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of splitQuotedList(text)) {
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    if (!envName.test(name)) throw new Error(`"${name}" is not a valid environment variable name`);
    out[name] = eq < 0 ? (environment[name] ?? '') : item.slice(eq + 1);
  }
  return out;
}

/** `-l name=value,...`: pairs in order; a bare name (boolean resource) means `true`. */
export function parseResourcePairs(text: string): Array<[string, string]> {
  return splitQuotedList(text).map((item) => {
    const eq = item.indexOf('=');
    if (eq === 0) throw new Error(`resource request "${item}" has no name`);
    return eq < 0 ? [item, 'true'] : [item.slice(0, eq), item.slice(eq + 1)];
  });
}
