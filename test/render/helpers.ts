import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Shared helpers of the render tests (not a test file: tap only runs *.test.ts). */

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The ts-node loader tap itself uses, so children can run our .ts sources without a build. */
const TS_LOADER = path.join(ROOT, 'node_modules', '@isaacs', 'ts-node-temp-fork-for-pr-2009', 'import.mjs');

/** argv that runs render/stitch-main.ts from source, whatever the environment it is run in. */
export function stitchCommandFromSource(): string[] {
  return ['env', 'TS_NODE_TRANSPILE_ONLY=1', `TS_NODE_PROJECT=${path.join(ROOT, 'tsconfig.json')}`, 'NODE_OPTIONS=', process.execPath, `--import=${TS_LOADER}`, path.join(ROOT, 'render', 'stitch-main.ts')];
}

export function tempDir(t: { teardown(fn: () => void): void }, prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Environment for a child that is not a tap test: without tap's loaders in NODE_OPTIONS. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}

/** Runs a job script as the agent would: `/bin/sh script` with SGE_TASK_ID set. */
export function runTaskScript(script: string, taskId: number | null, dir: string, env: Record<string, string> = {}): Promise<RunResult> {
  const file = path.join(dir, `script-${process.hrtime.bigint()}.sh`);
  writeFileSync(file, script);
  const extra: Record<string, string> = { ...env };
  const full = cleanEnv(extra);
  if (taskId === null) delete full.SGE_TASK_ID;
  else full.SGE_TASK_ID = String(taskId);
  return run('/bin/sh', [file], { env: full, cwd: dir });
}

export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? cleanEnv(), cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr }));
  });
}

/**
 * A stand-in renderer for tests of the job scripts: `fake-render OUTDIR START END STEP MODE`
 * writes frame_####.png files (MODE ok), writes nothing and exits 0 (MODE nothing), or exits 5.
 */
export function writeFakeRenderer(dir: string): string {
  const file = path.join(dir, 'fake-render');
  writeFileSync(
    file,
    [
      '#!/bin/sh',
      'out=$1; start=$2; end=$3; step=$4; mode=$5',
      'echo "fake-render: $mode $start..$end in $out"',
      'case $mode in',
      '  fail) echo "fake-render: boom" >&2; exit 5 ;;',
      '  nothing) exit 0 ;;',
      'esac',
      'f=$start',
      'while [ "$f" -le "$end" ]; do',
      '  printf "frame %s\\n" "$f" > "$out/$(printf "frame_%04d.png" "$f")"',
      '  f=$((f + step))',
      'done',
      '',
    ].join('\n'),
  );
  chmodSync(file, 0o755);
  return file;
}

/** A `blender` that prints each argument on its own line: shows exactly what the shell passed. */
export function writeArgvEcho(dir: string, name = 'blender'): string {
  const file = path.join(dir, name);
  writeFileSync(file, '#!/bin/sh\nfor a in "$@"; do printf "<%s>\\n" "$a"; done\n');
  chmodSync(file, 0o755);
  return file;
}
