import { execFile, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function newestMtime(dir: string, ext: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(full, ext));
    else if (entry.name.endsWith(ext)) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

/**
 * bin/ runs dist/ (the verb's esbuild bundle when there is one), so tests of bin/ need a current
 * build: compiles, then bundles, once when a source of cli/ or protocol/ is newer than what bin/
 * would run (tsc emits despite type errors elsewhere). A stale bundle beside a fresh dist/ would
 * have run the old code.
 */
export async function ensureBuilt(): Promise<void> {
  const cliDist = path.join(repoRoot, 'dist', 'cli');
  const bundle = statSync(path.join(cliDist, 'qsub.bundle.cjs'), { throwIfNoEntry: false });
  let built = 0;
  try {
    built = Math.min(newestMtime(cliDist, '.js'), statSync(path.join(cliDist, 'qsub.js')).mtimeMs, bundle?.mtimeMs ?? Infinity);
  } catch {
    built = 0;
  }
  const sources = Math.max(newestMtime(path.join(repoRoot, 'cli'), '.ts'), newestMtime(path.join(repoRoot, 'protocol'), '.ts'));
  if (built >= sources) return;
  await promisify(execFile)(process.execPath, [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', repoRoot], { cwd: repoRoot }).catch((error: { stdout?: string }) => {
    // Type errors (possibly in files other people are editing) do not stop tsc from emitting.
    if (!statSync(path.join(cliDist, 'qsub.js'), { throwIfNoEntry: false })) throw error;
  });
  await promisify(execFile)(process.execPath, [path.join(repoRoot, 'scripts', 'bundle-cli.mjs')], { cwd: repoRoot });
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs bin/<verb> as a real process, optionally feeding stdin. */
export function runBin(verb: string, args: string[], env: NodeJS.ProcessEnv, stdin?: string, cwd = repoRoot): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete childEnv.NODE_OPTIONS; // tap's loaders are not for the child
    const child = spawn(path.join(repoRoot, 'bin', verb), args, { env: childEnv, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}
