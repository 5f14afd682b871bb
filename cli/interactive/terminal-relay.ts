import type WebSocket from 'ws';
import { InteractiveLimits, interactiveServerFrame, type InteractiveClientFrame, type InteractiveServerFrame } from '../../protocol/interactive.js';
import { parseFrame } from './interactive-connection.js';

export interface RelayEvents {
  submitted(jobId: number, name: string): void;
  scheduled(host: string): void;
}

export interface RelayResult {
  /** qrsh's exit status. */
  exitStatus: number;
  /** Why the session ended abnormally, for stderr; empty when the command ended by itself. */
  message: string;
}

/**
 * Relays a terminal (raw mode, size changes) or plain stdin/stdout to the interactive job.
 * Input is sent within the credit the master grants (the input window), so a large
 * `qrsh cmd < file` never has more than the window in flight.
 */
export function relayTerminal(ws: WebSocket, submit: InteractiveClientFrame, events: RelayEvents): Promise<RelayResult> {
  const stdin = process.stdin;
  const tty = stdin.isTTY === true && process.stdout.isTTY === true;
  let credit: number = InteractiveLimits.inputWindowBytes;
  const queued: Buffer[] = [];
  let stdinEnded = false;
  const send = (frame: InteractiveClientFrame): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
  };
  const pump = (): void => {
    while (queued.length > 0 && credit > 0) {
      let chunk = queued.shift()!;
      const take = Math.min(chunk.length, credit, InteractiveLimits.chunkBytes);
      if (take < chunk.length) {
        queued.unshift(chunk.subarray(take));
        chunk = chunk.subarray(0, take);
      }
      credit -= chunk.length;
      send({ type: 'input', data: chunk.toString('base64') });
    }
    if (queued.length === 0) {
      if (stdinEnded) {
        send({ type: 'eof' });
        stdinEnded = false;
      } else stdin.resume();
    } else stdin.pause();
  };
  const onData = (data: Buffer): void => {
    queued.push(data);
    pump();
  };
  const onEnd = (): void => {
    stdinEnded = true;
    pump();
  };
  const onResize = (): void => send({ type: 'resize', size: { cols: process.stdout.columns, rows: process.stdout.rows } });

  return new Promise((resolve) => {
    let result: RelayResult | undefined;
    const restore = (): void => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      process.stdout.off('resize', onResize);
      if (tty) stdin.setRawMode(false);
      stdin.pause();
    };
    ws.on('message', (raw: WebSocket.RawData) => {
      let frame: InteractiveServerFrame;
      try {
        frame = parseFrame(interactiveServerFrame, raw.toString());
      } catch (err) {
        result ??= { exitStatus: 1, message: `error: invalid frame from the qfarm master: ${(err as Error).message}` };
        ws.close();
        return;
      }
      switch (frame.type) {
        case 'submitted':
          events.submitted(frame.jobId, frame.name);
          // Typed-ahead input waits for credit like any other.
          if (tty) stdin.setRawMode(true);
          stdin.on('data', onData);
          stdin.on('end', onEnd);
          if (tty) process.stdout.on('resize', onResize);
          stdin.resume();
          return;
        case 'scheduled':
          return events.scheduled(frame.host);
        case 'output':
          (frame.stream === 'stderr' ? process.stderr : process.stdout).write(Buffer.from(frame.data, 'base64'));
          return;
        case 'credit':
          credit += frame.bytes;
          return pump();
        case 'not-scheduled':
          result = { exitStatus: 1, message: frame.message };
          return;
        case 'exit':
          result = { exitStatus: frame.exitStatus, message: frame.failedCode !== 0 && frame.reason ? `qfarm: ${frame.reason}` : '' };
          return;
        case 'error':
          result ??= { exitStatus: 1, message: `error: ${frame.message}` };
          return;
      }
    });
    ws.on('close', () => {
      restore();
      resolve(result ?? { exitStatus: 1, message: 'error: the connection to the qfarm master was lost; the remote session is ended' });
    });
    send(submit);
  });
}
