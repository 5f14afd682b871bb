import { InvalidArgumentError } from 'commander';

/**
 * Number parsers for commander options and arguments of the `qfarm` verbs: one wording and one
 * notion of "a number" for all of them (an empty string is not 0, `1e3` and `0x10` are not
 * typos to guess around), so each error names the option, the rule and what was given.
 */

/** A whole number of at least `min` (counts, ids, seconds). */
export function wholeNumber(option: string, min: number) {
  return (text: string): number => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${option} must be a whole number >= ${min}, got "${text}"`);
    return n;
  };
}

/** A number of at least 0, fractions allowed (prices, hours). */
export function amount(option: string) {
  return (text: string): number => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${option} must be a number >= 0, got "${text}"`);
    return n;
  };
}

/** A frame number: any whole number, negative ones too (Blender allows them). */
export function frameNumber(option: string) {
  return (text: string): number => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${option} must be a frame number, got "${text}"`);
    return n;
  };
}
