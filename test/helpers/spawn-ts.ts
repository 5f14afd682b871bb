import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The repository root (this file is test/helpers/spawn-ts.ts). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The ts-node ESM loader that tap itself uses for .ts test files (@tapjs/typescript depends on
 * it). With `--import` it lets a child run TypeScript directly, but every child then loads the
 * TypeScript compiler and transpiles every module again: ~1-2 s per start on a busy machine.
 */
const tsLoader = path.join(repoRoot, 'node_modules', '@isaacs', 'ts-node-temp-fork-for-pr-2009', 'import.mjs');

let outDir: string | undefined;
const transpiled = new Set<string>();
const mirroredDirs = new Set<string>();

function hasTs(dir: string): boolean {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isFile() && e.name.endsWith('.ts')) return true;
    if (e.isDirectory() && e.name !== 'node_modules' && hasTs(path.join(dir, e.name))) return true;
  }
  return false;
}

/**
 * Links a source directory's non-TypeScript files (templates, static assets, JSON) into the
 * mirror, so code that finds them next to itself through import.meta.url still does.
 */
function mirrorAssets(srcDir: string, targetDir: string): void {
  if (mirroredDirs.has(srcDir)) return;
  mirroredDirs.add(srcDir);
  for (const e of fs.readdirSync(srcDir, { withFileTypes: true })) {
    const src = path.join(srcDir, e.name);
    const dst = path.join(targetDir, e.name);
    if (fs.existsSync(dst)) continue;
    if (e.isFile() && !e.name.endsWith('.ts')) fs.symlinkSync(src, dst);
    else if (e.isDirectory() && e.name !== 'node_modules' && !hasTs(src)) fs.symlinkSync(src, dst, 'dir');
  }
}

const IMPORT_RE = /(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|import\s*['"](\.{1,2}\/[^'"]+)['"]/g;

/**
 * Transpiles `entry` and every module it reaches through relative imports into a temp dir
 * (once per test process; the closure of agent/main.ts takes well under a second), mirroring the
 * repo layout so relative imports and `import.meta.url` lookups still work. Type errors are
 * `npx tsc --noEmit`'s job, exactly as with tap's own transpile-only loader.
 */
function transpileClosure(entry: string): string {
  if (!outDir) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-spawn-ts-'));
    fs.chmodSync(dir, 0o755); // children may run as another user (tests of privilege dropping)
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string };
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module' }));
    fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    // Native programs built by npm install (qfarm-exec), found by the agent next to its sources.
    fs.symlinkSync(path.join(repoRoot, 'build'), path.join(dir, 'build'), 'dir');
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    outDir = dir;
  }
  const queue = [path.resolve(repoRoot, entry)];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (transpiled.has(file)) continue;
    transpiled.add(file);
    const source = fs.readFileSync(file, 'utf8');
    const out = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        inlineSourceMap: true,
        inlineSources: true,
        esModuleInterop: true,
        verbatimModuleSyntax: false,
      },
    });
    const rel = path.relative(repoRoot, file).replace(/\.ts$/, '.js');
    const target = path.join(outDir, rel);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, out.outputText);
    mirrorAssets(path.dirname(file), path.dirname(target));
    for (const m of source.matchAll(IMPORT_RE)) {
      const spec = (m[1] ?? m[2] ?? m[3])!;
      const resolved = path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'));
      if (resolved.endsWith('.ts') && fs.existsSync(resolved)) queue.push(resolved);
    }
  }
  return path.join(outDir, path.relative(repoRoot, path.resolve(repoRoot, entry)).replace(/\.ts$/, '.js'));
}

/**
 * Spawns `node` on a TypeScript entry point (path relative to the repo root, e.g. `agent/main.ts`)
 * as a real child process, without a build. Same options as child_process.spawn; `env` is merged
 * over process.env; stdio defaults to ['ignore', 'pipe', 'pipe'].
 *
 * By default the entry's import closure is transpiled once per test process into a temp dir and
 * the child runs plain JS (fast start). `QFARM_SPAWN_TS=loader` runs the .ts file under the ts-node
 * ESM loader instead (no temp dir; slower start).
 *
 * `launcher` runs node through another command (e.g. a shell that sets a resource limit and then
 * `exec "$@"`): its words come first, then node and its arguments.
 */
export function spawnTs(entry: string, args: string[] = [], opts: SpawnOptions = {}, launcher: string[] = []): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  // tap sets NODE_OPTIONS with its own loaders for the test process; the child does not want them.
  if (!opts.env || !('NODE_OPTIONS' in opts.env)) delete env.NODE_OPTIONS;
  let nodeArgs: string[];
  if (process.env.QFARM_SPAWN_TS === 'loader') {
    env.TS_NODE_TRANSPILE_ONLY = '1';
    env.TS_NODE_PROJECT = path.join(repoRoot, 'tsconfig.json');
    nodeArgs = [`--import=${tsLoader}`, path.resolve(repoRoot, entry)];
  } else {
    nodeArgs = ['--enable-source-maps', transpileClosure(entry)];
  }
  const [command, ...commandArgs] = [...launcher, process.execPath, ...nodeArgs, ...args];
  return spawn(command!, commandArgs, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts,
    env,
  });
}
