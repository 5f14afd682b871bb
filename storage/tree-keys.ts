import { resolve, sep } from 'node:path';

/**
 * Turning the keys of a listed "directory" (every object under a prefix) into local paths.
 * Keys are remote input: whoever can write the bucket chooses them, so none may name a place
 * outside the tree it is copied into.
 */

/** The prefix a "directory" URL lists under: `renders/shot12` and `renders/shot12/` list the same objects. */
export function directoryPrefix(prefix: string): string {
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/**
 * Where the key with this relative path lands under `root` (already absolute), or null when it
 * would land outside it (`..` anywhere, or an absolute path).
 */
export function destinationUnder(root: string, relPath: string): string | null {
  const dest = resolve(root, relPath);
  return dest.startsWith(root + sep) && !relPath.split('/').includes('..') ? dest : null;
}

/** True when the relative path is plain: not empty, no `.`, `..` or empty segments (`a//b`, leading `/`). */
export function isPlainRelativePath(relPath: string): boolean {
  return relPath.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}
