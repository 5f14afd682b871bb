import t from 'tap';
import { pino } from 'pino';
import { TaskInput, type InputTarget } from '../../agent/interactive/task-input.js';
import { InteractiveLimits } from '../../protocol/interactive-limits.js';

/** What a pty or stdin pipe received, in order. */
function recordingTarget(): { target: InputTarget; events: string[] } {
  const events: string[] = [];
  return {
    events,
    target: {
      write: (data, written) => {
        events.push(`write ${data.length}`);
        written();
      },
      end: () => events.push('end'),
      resize: (size) => events.push(`resize ${size.cols}x${size.rows}`),
    },
  };
}

t.test('input that arrives before the process starts waits, in order, within the input window', (t) => {
  const acked: number[] = [];
  const input = new TaskInput((n) => acked.push(n), pino({ level: 'silent' }));
  input.resize({ cols: 100, rows: 30 });
  input.write(Buffer.alloc(1000));
  input.write(Buffer.alloc(InteractiveLimits.inputWindowBytes)); // would pass the window: dropped
  input.write(Buffer.alloc(24));
  input.end();
  input.write(Buffer.alloc(5)); // after the end of input: nothing
  const { target, events } = recordingTarget();
  input.attach(target);
  t.same(events, ['resize 100x30', 'write 1000', 'write 24', 'end']);
  t.same(acked, [1000, 24], 'only what reached the process is acknowledged (credit for the CLI)');
  t.end();
});

t.test('after the process ended nothing more is written', (t) => {
  const input = new TaskInput(() => undefined, pino({ level: 'silent' }));
  const { target, events } = recordingTarget();
  input.attach(target);
  input.write(Buffer.from('ls\r'));
  input.close();
  input.write(Buffer.from('rm -rf ~\r'));
  input.resize({ cols: 1, rows: 1 });
  t.same(events, ['write 3']);
  t.end();
});
