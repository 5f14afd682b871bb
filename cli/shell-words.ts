/**
 * Splits one line of `#$` directives or of a `-@` option file into words, shell style: blanks
 * separate words, quotes group, a backslash escapes the next character, a word starting with
 * `#` starts a comment. One deliberate difference from sh: a quote that opens in the middle of
 * a word (`A="x,y"`) is kept, so the list parsers of `-v`/`-l` can still see which commas are
 * quoted. A quote that opens a word (`-N "my job"`) is removed as sh would.
 */
export function splitShellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const ch = line[i]!;
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
      continue;
    }
    if (ch === '#' && !inWord) break;
    if (ch === '\\' && i + 1 < line.length) {
      word += line[i + 1];
      inWord = true;
      i += 2;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const end = findClosingQuote(line, i);
      if (end < 0) throw new Error(`unterminated ${ch} quote in: ${line.trim()}`);
      const inner = ch === '"' ? line.slice(i + 1, end).replace(/\\(["\\$`])/g, '$1') : line.slice(i + 1, end);
      word += inWord && word !== '' ? `${ch}${inner}${ch}` : inner;
      inWord = true;
      i = end + 1;
      continue;
    }
    word += ch;
    inWord = true;
    i++;
  }
  if (inWord) words.push(word);
  return words;
}

function findClosingQuote(line: string, open: number): number {
  const quote = line[open];
  for (let j = open + 1; j < line.length; j++) {
    if (quote === '"' && line[j] === '\\') {
      j++;
      continue;
    }
    if (line[j] === quote) return j;
  }
  return -1;
}

/** The words of every `#$` line (or another prefix, qsub `-C`) of a script, in order. */
export function scriptDirectiveWords(script: string, prefix = '#$'): string[] {
  if (prefix === '') return [];
  const words: string[] = [];
  for (const line of script.split('\n')) {
    if (line.startsWith(prefix)) words.push(...splitShellWords(line.slice(prefix.length)));
  }
  return words;
}
