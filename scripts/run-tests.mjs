#!/usr/bin/env node
// Runs the tap suite, passes its output through, and ends with the line CI reads:
// `N passed, N failed` (tap prints no such line of its own; its summary is `# { total, pass, fail }`).
// Every skipped test is listed with its file and reason just before that line: a skip is a
// guarantee not checked in this run, and must be seen, not buried in the scroll-back. So is every
// failed assertion, with where it is and what was found: CI may keep only the end of the output.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tapBin = path.join(root, 'node_modules', '.bin', 'tap');
const child = spawn(tapBin, process.argv.slice(2), { cwd: root, stdio: ['inherit', 'pipe', 'inherit'] });
let tail = '';
let partial = '';
/** The test file being reported: tap nests a file's tests one level in, under `# Subtest: <file>`. */
let currentFile = '';
const skips = [];
/** The `# Subtest:` names enclosing the current line, with their indentation. */
const subtests = [];
/** Failed assertions, leaves only (a subtest fails because one inside it did), with their diagnostics. */
const failures = [];
const MAX_LISTED_FAILURES = 20;
const MAX_DIAGNOSTIC_LINES = 16;
/** Diagnostic keys left out of the list: the test's source excerpt and stack (`at:` says where). */
const NOISY_KEYS = new Set(['source', 'stack', 'compare', 'args', 'command', 'cwd', 'stdio', 'externalID', 'env']);
/** After a `not ok` line: its YAML block (`---` … `...`), one indentation step further in. */
let yaml; // { failure (undefined: not listed), indent, started, key (the YAML key being read), at }

function scanLine(line) {
  const indent = line.length - line.trimStart().length;
  if (yaml && !yaml.started) {
    if (line.trim() === '---' && indent === yaml.indent) {
      yaml.started = true;
      return;
    }
    yaml = undefined;
  }
  if (yaml) {
    if (line.trim() === '...' && indent === yaml.indent) yaml = undefined;
    else if (yaml.failure) keepDiagnostic(yaml, line.slice(yaml.indent));
    return;
  }
  const subtest = /^\s*# Subtest: (.*)$/.exec(line);
  if (subtest) {
    while (subtests.length > 0 && subtests.at(-1).indent >= indent) subtests.pop();
    subtests.push({ indent, name: subtest[1].trim(), failedInside: false });
    if (indent === 0) currentFile = subtest[1].trim();
    return;
  }
  const skip = /^(\s*)(?:not )?ok \d+ - (.*?) # SKIP\s*(.*)$/.exec(line);
  if (skip) {
    skips.push({ file: currentFile, name: skip[2], reason: skip[3] || '(no reason given)' });
    return;
  }
  const failed = /^\s*not ok \d+ - (.*?)(?: # time=\S+)?$/.exec(line);
  if (failed && !line.includes(' # TODO')) {
    const name = failed[1];
    const enclosing = subtests.filter((s) => s.indent < indent);
    // A subtest's (or file's) own line comes after what failed inside it, which is listed already.
    const own = subtests.find((s) => s.indent === indent && s.name === name);
    let failure;
    if (!own?.failedInside) {
      failure = { file: currentFile, path: [...enclosing.slice(1).map((s) => s.name), name], diagnostics: [] };
      failures.push(failure);
      for (const s of enclosing) s.failedInside = true;
    }
    yaml = { failure, indent: indent + 2, started: false, key: '', at: undefined };
  }
}

/** Keeps what says why it failed; `at:` (file, line, column on lines of their own) becomes one line. */
function keepDiagnostic(block, text) {
  const lines = block.failure.diagnostics;
  const key = /^([A-Za-z]\w*):/.exec(text);
  if (key) block.key = key[1];
  if (block.key === 'at') {
    if (key) lines.push((block.at = { file: '', line: '', column: '' }));
    const part = /^\s+(fileName|lineNumber|columnNumber): (.*)$/.exec(text);
    if (part) block.at[{ fileName: 'file', lineNumber: 'line', columnNumber: 'column' }[part[1]]] = part[2];
    return;
  }
  if (NOISY_KEYS.has(block.key) || text.trim() === '') return;
  if (lines.length < MAX_DIAGNOSTIC_LINES) lines.push(text);
  else if (lines.length === MAX_DIAGNOSTIC_LINES) lines.push('…');
}

const diagnosticText = (d) => (typeof d === 'string' ? d : `at: ${[d.file, d.line, d.column].filter(Boolean).join(':')}`);

function printFailures() {
  console.log(`\nfailed (${failures.length}):`);
  for (const f of failures.slice(0, MAX_LISTED_FAILURES)) {
    const where = f.path.length === 1 && f.path[0] === f.file ? [] : f.path;
    console.log(`  ${[f.file, where.join(' > ')].filter(Boolean).join(': ')}`);
    for (const d of f.diagnostics) console.log(`      ${diagnosticText(d)}`);
  }
  if (failures.length > MAX_LISTED_FAILURES) console.log(`  … and ${failures.length - MAX_LISTED_FAILURES} more (search the output above for "not ok")`);
}

// Decoded as a stream: a character split between two chunks (test names have → and é) stays whole.
child.stdout.setEncoding('utf8');
child.stdout.on('data', (text) => {
  process.stdout.write(text);
  tail = (tail + text).slice(-4096);
  const lines = (partial + text).split('\n');
  partial = lines.pop() ?? '';
  for (const line of lines) scanLine(line);
});
child.on('close', (code, signal) => {
  if (partial) scanLine(partial);
  if (failures.length > 0) printFailures();
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
