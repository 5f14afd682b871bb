/**
 * True when a JSON text nests arrays/objects deeper than `limit`. Scanned without recursion and
 * stopping as soon as the limit is passed, so a 16 MiB "[[[[..." costs one linear scan and is
 * refused before JSON.parse builds a million nested arrays (which inflates the parser's memory
 * for good). Used on agent frames (master/agent-hub.ts) and HTTP bodies (master/api).
 */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
