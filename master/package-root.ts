import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * qfarm's package root, which holds build/Release (the native parts node-gyp builds at `npm
 * install`). From sources under tsx it is a few levels above this file, from dist/ one more:
 * walk up until package.json is found instead of counting.
 */
export function packageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  let dir = here;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find qfarm's package.json above ${here}`);
    dir = parent;
  }
}

/** A file node-gyp built into build/Release; a missing build is an error that says how to make it. */
export function nativeBuildFile(name: string, what: string): string {
  const root = packageRoot();
  const file = path.join(root, 'build', 'Release', name);
  if (!fs.existsSync(file)) throw new Error(`${what} ${file} is missing: run 'npm install' in ${root} (it builds native/ with node-gyp)`);
  return file;
}
