import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type WebSocket from 'ws';
import { InteractiveLimits } from '../../protocol/interactive-limits.js';
import { NODE_SESSIONS_PATH, nodeServerFrame, type NodeClientFrame, type NodeServerFrame, type NodeSessionRequest } from '../../protocol/node-sessions.js';
import { CliError } from '../cli-errors.js';
import { locateMaster } from '../master-location.js';
import { openInteractive, parseFrame } from './interactive-connection.js';

/** What each node did: its exit status, how long it took, why it ended abnormally. */
interface NodeResult {
  host: string;
  exitStatus: number;
  reason: string;
  ms: number;
}

interface SessionIo {
  /** Bytes to send to every node's stdin (push), or the terminal (shell). */
  input?: AsyncIterable<Buffer> | 'terminal';
  output(host: string, stream: 'stdout' | 'stderr', data: Buffer): void;
}

/** Runs one node session request to its end: the per-node results, in the order they ended. */
async function runNodeSession(request: NodeSessionRequest, io: SessionIo): Promise<NodeResult[]> {
  const ws = await openInteractive(locateMaster(), NODE_SESSIONS_PATH);
  const send = (frame: NodeClientFrame): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
  };
  const results: NodeResult[] = [];
  let credit: number = InteractiveLimits.inputWindowBytes;
  let creditWaiter: (() => void) | undefined;
  let error: string | undefined;
  let done = false;
  const tty = io.input === 'terminal' && process.stdin.isTTY === true;
  const onStdin = (d: Buffer): void => send({ type: 'input', data: d.toString('base64') });
  const onResize = (): void => send({ type: 'resize', size: { cols: process.stdout.columns, rows: process.stdout.rows } });
  const finished = new Promise<void>((resolve) => {
    ws.on('message', (raw: WebSocket.RawData) => {
      let frame: NodeServerFrame;
      try {
        frame = parseFrame(nodeServerFrame, raw.toString());
      } catch (err) {
        error = `the qfarm master sent an invalid frame: ${(err as Error).message}`;
        ws.close();
        return;
      }
      switch (frame.type) {
        case 'targets':
          if (io.input === 'terminal') {
            if (tty) process.stdin.setRawMode(true);
            process.stdin.on('data', onStdin);
            process.stdout.on('resize', onResize);
            process.stdin.resume();
          } else if (io.input) void pumpInput(io.input);
          return;
        case 'output':
          return io.output(frame.host, frame.stream, Buffer.from(frame.data, 'base64'));
        case 'exit':
          results.push({ host: frame.host, exitStatus: frame.exitStatus, reason: frame.reason, ms: frame.ms });
          return;
        case 'credit':
          credit += frame.bytes;
          creditWaiter?.();
          return;
        case 'done':
          done = true;
          return;
        case 'error':
          error = frame.message;
          return;
      }
    });
    ws.on('close', () => {
      process.stdin.off('data', onStdin);
      process.stdout.off('resize', onResize);
      if (tty) process.stdin.setRawMode(false);
      process.stdin.pause();
      creditWaiter?.();
      resolve();
    });
  });
  const pumpInput = async (source: AsyncIterable<Buffer>): Promise<void> => {
    for await (const chunk of source) {
      for (let at = 0; at < chunk.length; ) {
        while (credit <= 0 && ws.readyState === ws.OPEN) await new Promise<void>((r) => (creditWaiter = r));
        if (ws.readyState !== ws.OPEN) return;
        const piece = chunk.subarray(at, at + Math.min(credit, InteractiveLimits.chunkBytes));
        credit -= piece.length;
        at += piece.length;
        send({ type: 'input', data: piece.toString('base64') });
      }
    }
    send({ type: 'eof' });
  };
  send(request);
  await finished;
  if (error) throw new CliError(`qfarm: ${error}`, 1);
  if (!done) throw new CliError('qfarm: the connection to the qfarm master was lost before every node finished; their sessions are hung up', 1);
  return results;
}

/** Each line of a node's output prefixed with its host, whole lines only (a line split across chunks waits). */
function linePrefixer(): (host: string, stream: 'stdout' | 'stderr', data: Buffer) => void {
  const partial = new Map<string, string>();
  return (host, stream, data) => {
    const key = `${host}\0${stream}`;
    const text = (partial.get(key) ?? '') + data.toString('utf8');
    const lines = text.split('\n');
    partial.set(key, lines.pop()!);
    const target = stream === 'stderr' ? process.stderr : process.stdout;
    for (const line of lines) target.write(`${host}: ${line}\n`);
  };
}

function printTable(results: NodeResult[]): void {
  const sorted = [...results].sort((a, b) => a.host.localeCompare(b.host));
  const width = Math.max(4, ...sorted.map((r) => r.host.length));
  process.stdout.write(`${'HOST'.padEnd(width)}  EXIT  TIME\n`);
  for (const r of sorted) {
    process.stdout.write(`${r.host.padEnd(width)}  ${String(r.exitStatus).padStart(4)}  ${(r.ms / 1000).toFixed(1)}s${r.reason ? `  ${r.reason}` : ''}\n`);
  }
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerNodeCommands(program: Command): void {
  program
    .command('exec')
    .description('run COMMAND on every matching connected node in parallel, as yourself (root only as root); exit 0 only if all succeeded')
    .option('--group <group>', 'only nodes of this group')
    .option('--host <host>', 'only this node (repeatable)', collect, [])
    .option('--parallel <n>', 'nodes running at once', (v) => Number(v), 32)
    .argument('<command...>', 'the command and its arguments (after --)')
    .action(async (command: string[], opts: { group?: string; host: string[]; parallel: number }) => {
      const results = await runNodeSession(
        { type: 'open', mode: 'exec', hosts: opts.host, group: opts.group ?? null, argv: command, tty: null, parallel: Math.max(1, Math.min(256, opts.parallel || 1)), input: false },
        { output: linePrefixer() },
      );
      printTable(results);
      process.exitCode = results.every((r) => r.exitStatus === 0) ? 0 : 1;
    });

  program
    .command('shell')
    .description("a root shell on HOST through its agent (root and managers only; written to the master's log)")
    .argument('<host>')
    .action(async (host: string) => {
      const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
      const results = await runNodeSession(
        { type: 'open', mode: 'shell', hosts: [host], group: null, argv: [], tty: tty ? { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 } : null, parallel: 1, input: false },
        { input: 'terminal', output: (_h, stream, data) => void (stream === 'stderr' ? process.stderr : process.stdout).write(data) },
      );
      process.exitCode = results[0]?.exitStatus ?? 1;
    });

  program
    .command('push')
    .description('copy FILEs into DIR on every matching node, written as yourself (root only as root), verified by SHA-256')
    .argument('<files...>')
    .requiredOption('--to <dir>', 'absolute directory on the nodes')
    .option('--group <group>', 'only nodes of this group')
    .option('--host <host>', 'only this node (repeatable)', collect, [])
    .action(async (files: string[], opts: { to: string; group?: string; host: string[] }) => {
      if (!path.isAbsolute(opts.to)) throw new CliError(`qfarm push: --to ${opts.to} is not an absolute path`, 2);
      let failed = false;
      for (const file of files) {
        if (!statSync(file).isFile()) throw new CliError(`qfarm push: ${file} is not a regular file`, 2);
        const expected = createHash('sha256');
        for await (const chunk of createReadStream(file)) expected.update(chunk as Buffer);
        const sum = expected.digest('hex');
        const name = path.basename(file);
        const reported = new Map<string, string>();
        // On each node, as the caller: write a private temporary file in DIR, rename it into place, hash what landed.
        const script = 'umask 022; t=$(mktemp "$1/.qfarm-push.XXXXXX") || exit 1; cat > "$t" && mv -f "$t" "$1/$2" || { rm -f "$t"; exit 1; }; sha256sum < "$1/$2"';
        const results = await runNodeSession(
          { type: 'open', mode: 'exec', hosts: opts.host, group: opts.group ?? null, argv: ['/bin/sh', '-c', script, 'qfarm-push', opts.to, name], tty: null, parallel: 1, input: true },
          {
            input: createReadStream(file),
            output: (host, stream, data) => {
              if (stream === 'stdout') reported.set(host, (reported.get(host) ?? '') + data.toString());
              else process.stderr.write(`${host}: ${data.toString()}`);
            },
          },
        );
        for (const r of results.sort((a, b) => a.host.localeCompare(b.host))) {
          const got = (reported.get(r.host) ?? '').split(/\s/)[0];
          const ok = r.exitStatus === 0 && got === sum;
          if (!ok) failed = true;
          process.stdout.write(`${r.host}: ${path.join(opts.to, name)} ${ok ? `ok sha256 ${sum}` : r.exitStatus !== 0 ? `FAILED (exit ${r.exitStatus}${r.reason ? `: ${r.reason}` : ''})` : `CHECKSUM MISMATCH (${got || 'none'} != ${sum})`}\n`);
        }
      }
      process.exitCode = failed ? 1 : 0;
    });
}
