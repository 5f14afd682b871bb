import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import * as fs from 'node:fs';

/** Constant-time token comparison (hashing first makes lengths equal and leaks nothing). */
export function tokenMatches(given: string, expected: string): boolean {
  if (!given || !expected) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * Reads a token file, creating it with a fresh random token (mode 0600) if it does not exist.
 * A token file readable by others is refused: whoever reads it can act as any user of the farm.
 */
export function loadOrCreateToken(file: string): string {
  try {
    const stat = fs.statSync(file);
    if ((stat.mode & 0o077) !== 0) {
      throw new Error(`token file ${file} is readable by other users (mode ${(stat.mode & 0o777).toString(8)}): run chmod 600 ${file}`);
    }
    const token = fs.readFileSync(file, 'utf8').trim();
    if (token.length < 16) throw new Error(`token file ${file} holds no usable token: delete it and restart the master to create one`);
    return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(24).toString('hex');
  fs.writeFileSync(file, token + '\n', { mode: 0o600, flag: 'wx' });
  return token;
}
