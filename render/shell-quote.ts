/**
 * POSIX shell quoting. A value becomes one single-quoted word; a `'` inside it closes the quote,
 * adds an escaped quote and reopens (`'\''`). Nothing inside single quotes is special to sh, so
 * no value can run code, whatever it contains.
 */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Quotes every word and joins them with spaces: an argv as one shell command line. */
export function shellJoin(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}
