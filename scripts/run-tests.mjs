#!/usr/bin/env node
// Runs the tap suite, passes its output through, and ends with the line CI reads:
// `N passed, N failed` (tap prints no such line of its own; its summary is `# { total, pass, fail }`).
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tapBin = path.join(root, 'node_modules', '.bin', 'tap');
const child = spawn(tapBin, process.argv.slice(2), { cwd: root, stdio: ['inherit', 'pipe', 'inherit'] });
let tail = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4096);
});
child.on('close', (code, signal) => {
  const summary = [...tail.matchAll(/^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?/gm)].pop();
  if (!summary) {
    console.log(`tap ended (${signal ?? `exit ${code}`}) without a summary`);
    console.log('0 passed, 1 failed');
    process.exit(code || 1);
  }
  const pass = Number(summary[2] ?? 0);
  const fail = Number(summary[3] ?? 0);
  const skip = Number(summary[4] ?? 0);
  const failed = fail + (code !== 0 && fail === 0 ? 1 : 0);
  console.log(`${pass} passed, ${failed} failed${skip ? `, ${skip} skipped` : ''}`);
  process.exit(code ?? 1);
});
