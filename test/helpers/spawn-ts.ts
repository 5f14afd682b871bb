import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is test/helpers/spawn-ts.ts). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The ts-node ESM loader that tap itself uses for .ts test files (@tapjs/typescript depends on
 * it). `--import` registers it before the entry point loads, so a child can run TypeScript
 * sources directly, without a build. Transpile-only: type errors are `npx tsc --noEmit`'s job,
 * and skipping the type-check keeps start-up near one second.
 */
const tsLoader = path.join(repoRoot, 'node_modules', '@isaacs', 'ts-node-temp-fork-for-pr-2009', 'import.mjs');

/**
 * Spawns `node` on a TypeScript entry point (path relative to the repo root, e.g. `agent/main.ts`)
 * as a real child process. Same options as child_process.spawn; `env` is merged over
 * process.env. The entry must live inside the repo (its package.json has "type": "module").
 */
export function spawnTs(entry: string, args: string[] = [], opts: SpawnOptions = {}): ChildProcess {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TS_NODE_TRANSPILE_ONLY: '1',
    TS_NODE_PROJECT: path.join(repoRoot, 'tsconfig.json'),
    ...opts.env,
  };
  // tap sets NODE_OPTIONS with its own loaders for the test process; the child gets only ours.
  if (!opts.env || !('NODE_OPTIONS' in opts.env)) delete env.NODE_OPTIONS;
  return spawn(process.execPath, [`--import=${tsLoader}`, path.resolve(repoRoot, entry), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts,
    env,
  });
}
