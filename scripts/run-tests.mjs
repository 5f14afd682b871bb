#!/usr/bin/env node
// Runs the tap suite, passes its output through, and ends with the line CI reads:
// `N passed, N failed` (tap prints no such line of its own; its summary is `# { total, pass, fail }`).
// Every skipped test is listed with its file and reason just before that line: a skip is a
// guarantee not checked in this run, and must be seen, not buried in the scroll-back.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tapBin = path.join(root, 'node_modules', '.bin', 'tap');
const child = spawn(tapBin, process.argv.slice(2), { cwd: root, stdio: ['inherit', 'pipe', 'inherit'] });
let tail = '';
let partial = '';
/** Test files by nesting depth of their `# Subtest:` line (tap nests a file's tests one level in). */
let currentFile = '';
const skips = [];

function scanLine(line) {
  const file = /^# Subtest: (\S+\.test\.[cm]?[jt]s)\s*$/.exec(line);
  if (file) currentFile = file[1];
  const skip = /^(\s*)(?:not )?ok \d+ - (.*?) # SKIP\s*(.*)$/.exec(line);
  if (skip) skips.push({ file: currentFile, name: skip[2], reason: skip[3] || '(no reason given)' });
}

child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  const text = chunk.toString();
  tail = (tail + text).slice(-4096);
  const lines = (partial + text).split('\n');
  partial = lines.pop() ?? '';
  for (const line of lines) scanLine(line);
});
child.on('close', (code, signal) => {
  if (partial) scanLine(partial);
  if (skips.length > 0) {
    console.log(`\nskipped (${skips.length}):`);
    for (const s of skips) console.log(`  ${s.file ? `${s.file}: ` : ''}${s.name}: ${s.reason}`);
  }
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
