import t from 'tap';
import { Supervisor } from '../../cli/admin/agent-supervisor.js';

t.test('qfarm up\'s supervisor restarts a dying process with growing delays instead of spinning', async (t) => {
  const lines: string[] = [];
  const supervisor = new Supervisor({
    name: 'agent test',
    command: '/bin/sh',
    args: ['-c', 'exit 3'],
    spawnOptions: { stdio: 'ignore' },
    logHint: '/nowhere.log',
    baseDelayMs: 100,
    maxDelayMs: 400,
    say: (line) => lines.push(line),
  });
  supervisor.start();
  await new Promise((r) => setTimeout(r, 2000));
  await supervisor.stop('SIGTERM');
  const count = lines.length;
  t.ok(count >= 4 && count <= 8, `restarted ${count} times in 2 s (100, 200, 400, 400 ... ms apart), not thousands`);
  t.match(lines[0], /^qfarm up: agent test exited \(code 3\); restarting it in 0\.1s \(restart 1, backoff doubles up to 0\.4s\); see \/nowhere\.log$/);
  t.match(lines[1], /restarting it in 0\.2s \(restart 2/);
  t.match(lines[2], /restarting it in 0\.4s \(restart 3/);
  t.match(lines[3], /restarting it in 0\.4s \(restart 4/, 'the delay stops growing at its cap');
  await new Promise((r) => setTimeout(r, 600));
  t.equal(lines.length, count, 'after stop() nothing is restarted');
});

t.test('a process that ran healthily for a while starts the backoff over', async (t) => {
  const lines: string[] = [];
  const supervisor = new Supervisor({
    name: 'agent test',
    command: '/bin/sh',
    args: ['-c', 'sleep 0.3'],
    spawnOptions: { stdio: 'ignore' },
    logHint: 'x',
    baseDelayMs: 50,
    healthyAfterMs: 200,
    say: (line) => lines.push(line),
  });
  supervisor.start();
  await new Promise((r) => setTimeout(r, 1200));
  await supervisor.stop('SIGTERM');
  t.ok(lines.length >= 2);
  t.ok(lines.every((l) => /restarting it in 0\.1s \(restart 1,/.test(l)), 'every restart after a healthy run waits the base delay');
});
