import t from 'tap';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ROOT, TestFarm } from '../helpers/farm.js';
import { PtyUser } from '../helpers/pty-user.js';
import { ATTACKER, BYSTANDER, ensureUser, requireRoot, runAsUser, type UnixUser } from '../helpers/unix-users.js';

/**
 * Issue 11: qlogin and qrsh. Real master, real root agent, an ordinary user at a real
 * terminal (node-pty) or in a shell script; the job runs as that user in a pty on the node.
 */

function userEnv(farm: TestFarm): Record<string, string> {
  return { QFARM_HOME: farm.home, PATH: `${path.join(ROOT, 'bin')}:${process.env['PATH'] ?? '/usr/bin:/bin'}` };
}

function processesOf(user: UnixUser, pattern: string): string {
  try {
    return execFileSync('pgrep', ['-u', String(user.uid), '-f', pattern], { encoding: 'utf8' }).trim();
  } catch {
    return ''; // pgrep exits 1 when nothing matches
  }
}

t.test('qlogin: a login shell as the user in a pty, with resize, ^C, ^Z and fg, and the exit status', async (t) => {
  requireRoot();
  const bob = ensureUser(BYSTANDER);
  const farm = await TestFarm.start(t, { agents: 1, slots: 2 });
  const term = new PtyUser(bob, [path.join(ROOT, 'bin', 'qlogin'), '-q', 'default'], { env: userEnv(farm), cols: 80, rows: 24 });
  t.teardown(() => term.kill('SIGKILL'));

  const submitted = await term.waitFor(/Your job (\d+) \("QLOGIN"\) has been submitted/);
  const jobId = Number(submitted.match[1]);
  // SGE's progress lines (test/fixtures/sge/interactive.txt, items 3 and 4).
  await term.waitFor(new RegExp(`waiting for interactive job to be scheduled \\.\\.\\.\\r?\\nYour interactive job ${jobId} has been successfully scheduled\\.\\r?\\nEstablishing builtin session to host node1 \\.\\.\\.`));
  term.type("PS1='READY> '; export PS1\r");
  let at = (await term.waitFor(/READY> $/m)).end;

  term.type('id -un; stty size\r');
  // Node's raw mode keeps the local terminal's ONLCR: a remote \r\n shows as \r\r\n (same on screen).
  at = (await term.waitFor(new RegExp(`${bob.name}\\r+\\n24 80\\r+\\nREADY> `), at)).end;

  term.resize(100, 30);
  await new Promise((r) => setTimeout(r, 300));
  term.type('stty size\r');
  at = (await term.waitFor(/30 100\r+\nREADY> /, at)).end;

  const qstat = await farm.run('qstat', []);
  t.match(qstat.stdout, new RegExp(`^\\s*${jobId} .*QLOGIN\\s+${bob.name}\\s+r `, 'm'), 'qstat shows the session as a running job named QLOGIN');

  term.type('sleep 120 && echo after-sleep\r');
  await new Promise((r) => setTimeout(r, 500));
  term.type('\x03');
  const before = at;
  at = (await term.waitFor(/READY> /, at, 5000)).end;
  t.notMatch(term.screen.slice(before, at), /\nafter-sleep/, 'Ctrl-C reached the sleep: it failed (130), so nothing after && ran');
  t.equal(processesOf(bob, 'sleep 120'), '', 'no sleep is left running');

  term.type('sleep 140\r');
  await new Promise((r) => setTimeout(r, 500));
  term.type('\x1a');
  at = (await term.waitFor(/Stopped[^\n]*sleep 140[\s\S]*READY> /i, at, 5000)).end;
  t.pass('Ctrl-Z stopped the sleep: job control of the remote shell works');
  // Back to the foreground, then interrupted: no stopped job is left for exit to complain about.
  term.type('fg\r');
  at = (await term.waitFor(/sleep 140\r*\n/, at)).end;
  await new Promise((r) => setTimeout(r, 300));
  term.type('\x03');
  at = (await term.waitFor(/READY> /, at, 5000)).end;

  term.type('exit 7\r');
  t.equal(await term.exited, 7, "qlogin's exit status is the shell's");
  await farm.waitForJob(jobId);
  const qacct = await farm.run('qacct', ['-j', String(jobId)]);
  t.match(qacct.stdout, /jobname\s+QLOGIN/, 'qacct knows the session');
  t.match(qacct.stdout, /exit_status\s+7/);
  t.match(qacct.stdout, new RegExp(`owner\\s+${bob.name}`));
});

t.test('qrsh without a terminal streams stdin and stdout as bytes, inside a shell script', async (t) => {
  requireRoot();
  const bob = ensureUser(BYSTANDER);
  const farm = await TestFarm.start(t, { agents: 1, slots: 1 });
  // As a workflow engine drives it: one rule after another, each status checked.
  const script = [
    'set -u',
    "printf 'alpha\\nbeta\\n' | qrsh -q default -now n tr a-z A-Z; echo \"upper=$?\"",
    'qrsh -q default -now n "id -un; exit 3"; echo "status=$?"',
    // More than the input window (256 KiB): sent only as the job reads it.
    'head -c 3000000 /dev/zero | qrsh -q default -now n wc -c; echo "big=$?"',
    'qrsh -q default -now n "echo oops >&2; false"; echo "false=$?"',
  ].join('\n');
  // env -u: tap's process-info hook would otherwise ride into the user's node processes.
  const run = await runAsUser(bob, ['/usr/bin/env', '-u', 'NODE_OPTIONS', '/bin/sh', '-c', script], { env: userEnv(farm), cwd: bob.home, timeoutMs: 120_000 });
  t.equal(run.stdout, `ALPHA\nBETA\nupper=0\n${bob.name}\nstatus=3\n3000000\nbig=0\nfalse=1\n`, run.stderr);
  t.equal(run.stderr, 'oops\n', "the job's stderr is qrsh's stderr");
});

t.test('qrsh -now y on a full farm is refused with SGE\'s message and leaves no job', async (t) => {
  requireRoot();
  const bob = ensureUser(BYSTANDER);
  const farm = await TestFarm.start(t, { agents: 1, slots: 1 });
  const blocker = await farm.occupySlots(1);
  // test/fixtures/sge/interactive.txt, item 2: nothing on stdout, this line on stderr, exit 1.
  const run = await runAsUser(bob, ['/usr/bin/env', '-u', 'NODE_OPTIONS', path.join(ROOT, 'bin', 'qrsh'), '-q', 'default', 'hostname'], { env: userEnv(farm) });
  t.equal(run.code, 1);
  t.equal(run.stdout, '');
  t.equal(run.stderr, 'Your "qrsh" request could not be scheduled, try again later.\n');
  const qstat = await farm.run('qstat', ['-u', bob.name]);
  t.equal(qstat.stdout, '', 'the refused job is gone');
  await blocker.release();
});

t.test('a dropped qrsh ends its remote side: no orphaned process', async (t) => {
  requireRoot();
  const bob = ensureUser(BYSTANDER);
  const farm = await TestFarm.start(t, { agents: 1, slots: 1 });
  const term = new PtyUser(bob, [path.join(ROOT, 'bin', 'qrsh'), '-q', 'default', 'echo started; exec sleep 777'], { env: userEnv(farm) });
  await term.waitFor(/started/);
  t.not(processesOf(bob, 'sleep 777'), '', 'the remote sleep runs as the user');
  const qstat = await farm.run('qstat', ['-u', bob.name]);
  t.match(qstat.stdout, new RegExp(`\\secho\\s+${bob.name}\\s+r `), "qstat names the job after its command, as SGE's qrsh does");
  // The client dies without a word (setpriv and bin/qrsh exec into node: one pid), as when a laptop's link drops.
  term.kill('SIGKILL');
  await farm.waitFor(() => processesOf(bob, 'sleep 777') === '', 15_000, 'the remote sleep to end');
  await farm.waitFor(async () => (await farm.run('qstat', ['-u', bob.name])).stdout === '', 15_000, 'the job to leave qstat');
  t.pass('the session and its job ended');
});

t.test('the interactive socket takes the user from the connection, never from the frame', async (t) => {
  requireRoot();
  const mallory = ensureUser(ATTACKER);
  const farm = await TestFarm.start(t, { agents: 1, slots: 1 });
  // A hand-made client as the attacker: the job claims root as submitter and asks to be non-interactive.
  const script = `
    const WebSocket = require(${JSON.stringify(path.join(ROOT, 'node_modules', 'ws'))});
    const ws = new WebSocket('ws+unix://' + process.argv[1] + ':/api/v1/interactive');
    let out = '';
    ws.on('open', () => ws.send(JSON.stringify({ type: 'submit', verb: 'qrsh', tty: null, now: false, job: {
      name: 'forged', submitHost: 'x', command: { kind: 'binary', argv: ['/bin/sh', '-c', 'id -u'] }, cwd: '/tmp', submitCwd: '/tmp',
      joinOutput: false, env: {}, hold: false, holdJobs: [], priority: 0, slots: 1, resources: { other: {} }, pty: false, queue: 'default',
      submitter: { user: 'root', uid: 0, gid: 0, group: 'root', home: '/root' }, interactive: false } })));
    ws.on('message', (m) => { const f = JSON.parse(m); if (f.type === 'output') out += Buffer.from(f.data, 'base64'); if (f.type === 'exit') console.log(JSON.stringify({ out, exit: f.exitStatus })); });
    ws.on('close', () => process.exit(0));`;
  const run = await runAsUser(mallory, ['/usr/bin/env', '-u', 'NODE_OPTIONS', process.execPath, '-e', script, path.join(farm.home, 'api.sock')], { cwd: '/tmp' });
  t.same(JSON.parse(run.stdout), { out: `${mallory.uid}\n`, exit: 0 }, `the job ran as ${mallory.name}: ${run.stderr}`);
  const qacct = await farm.run('qacct', ['-j', 'forged']);
  t.match(qacct.stdout, new RegExp(`owner\\s+${mallory.name}`));
});

t.test('an idle session ends after QFARM_INTERACTIVE_IDLE_TIMEOUT, and its job with it', async (t) => {
  requireRoot();
  const bob = ensureUser(BYSTANDER);
  // The master reads it from its environment (TestFarm passes this process's).
  process.env['QFARM_INTERACTIVE_IDLE_TIMEOUT'] = '2';
  const farm = await TestFarm.start(t, { agents: 1, slots: 1 }).finally(() => delete process.env['QFARM_INTERACTIVE_IDLE_TIMEOUT']);
  const started = Date.now();
  const run = await runAsUser(bob, ['/usr/bin/env', '-u', 'NODE_OPTIONS', path.join(ROOT, 'bin', 'qrsh'), '-q', 'default', 'sleep 555'], { env: userEnv(farm) });
  t.equal(run.code, 1);
  t.match(run.stderr, /qrsh: session of job \d+ idle for 2 s \(QFARM_INTERACTIVE_IDLE_TIMEOUT\); ended/);
  t.ok(Date.now() - started < 20_000, 'ended by the timeout, not by the sleep');
  await farm.waitFor(() => processesOf(bob, 'sleep 555') === '', 15_000, 'the idle job to be hung up');
});

t.test('the interactive socket is bounded: input beyond the window or an oversized frame ends the session', async (t) => {
  requireRoot();
  const mallory = ensureUser(ATTACKER);
  const farm = await TestFarm.start(t, { agents: 0 }); // nothing runs: the job stays pending
  const script = `
    const WebSocket = require(${JSON.stringify(path.join(ROOT, 'node_modules', 'ws'))});
    const [sock, mode] = process.argv.slice(1);
    const ws = new WebSocket('ws+unix://' + sock + ':/api/v1/interactive');
    const frames = [];
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'submit', verb: 'qrsh', tty: null, now: false, job: {
        name: 'flood', submitHost: 'x', command: { kind: 'binary', argv: ['cat'] }, cwd: '/tmp', submitCwd: '/tmp',
        joinOutput: false, env: {}, hold: false, holdJobs: [], priority: 0, slots: 1, resources: { other: {} }, pty: false } }));
      const chunk = Buffer.alloc(64 * 1024).toString('base64');
      if (mode === 'window') for (let i = 0; i < 5; i++) ws.send(JSON.stringify({ type: 'input', data: chunk }));
      else ws.send('x'.repeat(5 * 1024 * 1024));
    });
    ws.on('message', (m) => frames.push(JSON.parse(m).type + (JSON.parse(m).message ? ': ' + JSON.parse(m).message : '')));
    ws.on('close', (code) => { console.log(JSON.stringify({ code, frames })); process.exit(0); });`;
  const client = (mode: string) => runAsUser(mallory, ['/usr/bin/env', '-u', 'NODE_OPTIONS', process.execPath, '-e', script, path.join(farm.home, 'api.sock'), mode], { cwd: '/tmp' });

  const window = JSON.parse((await client('window')).stdout) as { code: number; frames: string[] };
  t.equal(window.code, 1008);
  t.same(window.frames, ['submitted', 'error: more than 262144 bytes of input in flight: wait for credit']);
  const big = JSON.parse((await client('big')).stdout) as { code: number; frames: string[] };
  t.equal(big.code, 1009, 'a frame above 4 MiB closes the socket (message too big)');
  await farm.waitFor(async () => (await farm.run('qstat', ['-u', mallory.name])).stdout === '', 10_000, 'the flood job to be deleted with its session');
  t.pass('the closed sessions left no job behind');
});
