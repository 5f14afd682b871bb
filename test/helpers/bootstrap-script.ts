import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, type TestFarm } from './farm.js';

/**
 * The worker bootstrap's agent-start script (scripts/bootstrap/qfarm-agent-start.sh), run as a
 * child in a fresh temporary root (QFARM_ROOT) instead of a VM, with none of this process's
 * QFARM_* settings: only what the test passes.
 */

export const AGENT_MAIN = join(ROOT, 'dist', 'agent', 'main.js');
const SCRIPT = join(ROOT, 'scripts', 'bootstrap', 'qfarm-agent-start.sh');

export interface StartScriptRun {
  child: ChildProcess;
  /** The temporary root the script installs into. */
  root: string;
  /** What the script printed on stderr so far. */
  stderr(): string;
  /** Its exit code once it exits. */
  exited: Promise<number | null>;
}

export function runAgentStartScript(t: { teardown(fn: () => Promise<void>): void }, env: NodeJS.ProcessEnv): StartScriptRun {
  const root = mkdtempSync(join(tmpdir(), 'qfarm-root-'));
  const clean = { ...process.env };
  for (const k of Object.keys(clean)) if (k.startsWith('QFARM_') || k === 'NODE_OPTIONS') delete clean[k];
  const child = spawn('bash', [SCRIPT], { env: { ...clean, QFARM_ROOT: root, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  });
  return { child, root, stderr: () => stderr, exited };
}

/** Waits until the agent the script started is online as `hostname`; fails at once, with its stderr, if the script exits. */
export async function waitUntilJoined(farm: TestFarm, run: StartScriptRun, hostname: string, what: string): Promise<void> {
  await farm.waitFor(async () => {
    if (run.child.exitCode !== null) throw new Error(`bootstrap exited ${run.child.exitCode}: ${run.stderr()}`);
    return (await farm.hostState(hostname)) === 'online';
  }, 20_000, what);
}
