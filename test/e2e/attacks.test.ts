import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { TestFarm } from '../helpers/farm.js';
import { ATTACKER, ensureUser, requireRoot, runAsUser, type UnixUser } from '../helpers/unix-users.js';
import { sgeProbe } from '../cli/sge-transcript.js';

/**
 * Issue 9 end to end: every escape the issue lists, tried by a real unprivileged user through
 * the real CLI (qsub → master → root agent). Each fails with a reason the attacker can read
 * (qacct -j, qsub's stderr, the CLI's refusal), nothing changes as root, and afterwards a job of
 * the attacker and one of root's both succeed. One farm, the attacks submitted all at once.
 */

requireRoot();
const mallory = ensureUser(ATTACKER);
const tag = `${process.pid}`;
/** Root's own things the attacker goes after. */
const rootPrivate = `/root/qfarm-private-${tag}`;
const rootSecretDir = `/root/qfarm-secret-${tag}`;
const victim = `/root/qfarm-victim-${tag}.txt`;
const etcInput = `/etc/qfarm-attack-in-${tag}`;
const etcOutput = `/etc/qfarm-attack-out-${tag}`;
const SECRET = `root-only-${tag}`;
/** World-writable (sticky) place where the preloaded library records who loaded it. */
const evidence = `/tmp/qfarm-evil-${tag}`;
/** The attacker's own working area in their home. */
const base = path.join(mallory.home, `attacks-${tag}`);
const home = (name: string): string => path.join(base, name);

function setUpRootFiles(): void {
  for (const dir of [rootPrivate, rootSecretDir]) {
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'secret.txt'), `${SECRET}\n`, { mode: 0o600 });
  }
  fs.writeFileSync(victim, 'precious\n', { mode: 0o644 });
  fs.mkdirSync(evidence, { mode: 0o1777 });
  fs.chmodSync(evidence, 0o1777);
}

/** An LD_PRELOAD library whose constructor leaves `uid-<getuid()>-<pid>` in `evidence`. */
async function buildEvilLibrary(user: UnixUser): Promise<string> {
  const source = home('evil.c');
  const library = home('evil.so');
  fs.writeFileSync(
    source,
    `#include <stdio.h>
#include <unistd.h>
__attribute__((constructor)) static void evil(void) {
  char p[256];
  snprintf(p, sizeof p, "${evidence}/uid-%d-%d", (int)getuid(), (int)getpid());
  FILE *f = fopen(p, "w");
  if (f) fclose(f);
}
`,
  );
  fs.chownSync(source, user.uid, user.gid);
  const built = await runAsUser(user, ['gcc', '-shared', '-fPIC', '-o', library, source]);
  if (built.code !== 0) throw new Error(`building ${library} as ${user.name} failed: ${built.stderr}`);
  return library;
}

/** The job id from `qsub -terse`, or a failure naming the attack. */
function jobIdOf(what: string, res: { code: number; stdout: string; stderr: string }): number {
  const id = Number.parseInt(res.stdout, 10);
  if (res.code !== 0 || !Number.isInteger(id)) throw new Error(`qsub for "${what}" failed (${res.code}): ${res.stderr}`);
  return id;
}

t.test('every escape of issue 9 through qsub fails with a reason the attacker can read', async (t) => {
  setUpRootFiles();
  const shadowBefore = fs.readFileSync('/etc/shadow', 'utf8');
  const farm = await TestFarm.start(t, { agents: 1, slots: 8 });
  t.teardown(() => {
    for (const p of [rootPrivate, rootSecretDir, victim, etcInput, etcOutput, evidence]) fs.rmSync(p, { recursive: true, force: true });
    fs.rmSync(base, { recursive: true, force: true });
  });
  t.equal((await runAsUser(mallory, ['mkdir', '-m', '700', base])).code, 0, `${base} made by the attacker`);
  const library = await buildEvilLibrary(mallory);
  const project = home('p');
  const made = await runAsUser(mallory, ['sh', '-c', `mkdir -p ${project}/sub && echo mine > ${project}/a.txt && echo deep > ${project}/sub/b.txt`]);
  t.equal(made.code, 0, made.stderr);
  const qsub = (what: string, args: string[]) => farm.runAs(mallory, 'qsub', ['-terse', '-j', 'y', '-o', home(`${what}.out`), ...args]).then((res) => jobIdOf(what, res));
  const rootJob = await farm.submit(['-h', '-p', '-10', '-b', 'y', 'true']);

  // The task and a second process of the attacker race over one $OUTDIR: the flipper waits
  // for the task to say where it is, then swaps a file for a link to /etc/shadow and back.
  const outdirNote = home('flip-outdir');
  const flipper = runAsUser(mallory, [
    'sh',
    '-c',
    `until [ -s "$1" ]; do sleep 0.05; done; d=$(cat "$1"); end=$(($(date +%s)+5))
     while [ $(date +%s) -lt $end ]; do ln -sf /etc/shadow "$d/l.tmp" && mv -fT "$d/l.tmp" "$d/loot"; echo mine > "$d/r.tmp" && mv -fT "$d/r.tmp" "$d/loot"; done 2>/dev/null; true`,
    'flipper',
    outdirNote,
  ]);

  const [preload, unreadable, readOnly, intoEtc, outToEtc, outOverRoot, rootWd, environ, hugeLine, flip] = await Promise.all([
    qsub('preload', ['-v', `LD_PRELOAD=${library}`, '-b', 'y', 'true']),
    qsub('unreadable', ['-data', `file://${rootPrivate}/:${home('x')}:rw`, '-b', 'y', 'cat', `${home('x')}/secret.txt`]),
    qsub('readonly', ['-data', `file://${project}/:${home('ro')}:ro`, '-b', 'y', 'true']),
    qsub('into-etc', ['-data', `file://${project}/:${etcInput}:ro`, '-b', 'y', 'true']),
    qsub('out-etc', ['-outdir', `file://${etcOutput}/`, '-b', 'y', 'sh', '-c', 'echo pwned > "$OUTDIR/x"']),
    qsub('out-root', ['-outdir', 'file:///root/', '-b', 'y', 'sh', '-c', `echo pwned > "$OUTDIR/${path.basename(victim)}"`]),
    qsub('root-wd', ['-wd', rootSecretDir, '-b', 'y', 'cat', 'secret.txt']),
    qsub('environ', ['-b', 'y', 'sh', '-c', `for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do cat "$f"; echo; done > ${home('procdump')} 2>/dev/null; true`]),
    qsub('huge-line', ['-b', 'y', 'sh', '-c', "head -c 20000000 /dev/zero | tr '\\0' a"]),
    qsub('flip', ['-outdir', `file://${home('flipout')}/`, '-b', 'y', 'sh', '-c', `echo mine > "$OUTDIR/loot"; i=0; while [ $i -lt 30 ]; do echo f$i > "$OUTDIR/f$i"; i=$((i+1)); done; echo "$OUTDIR" > ${outdirNote}; sleep 2`]),
  ]);
  const all = { preload, unreadable, readOnly, intoEtc, outToEtc, outOverRoot, rootWd, environ, hugeLine, flip };
  for (const [what, id] of Object.entries(all)) await farm.waitForJob(id, 90_000).catch((err: Error) => t.fail(`${what} (job ${id}) did not finish: ${err.message}`));
  await flipper;
  /** `qacct -j` as the attacker sees it. */
  const acct = async (id: number): Promise<string> => {
    const res = await farm.runAs(mallory, 'qacct', ['-j', String(id)]);
    t.equal(res.code, 0, `the attacker may read the accounting of their own job ${id}: ${res.stderr}`);
    return res.stdout;
  };
  const failedLine = async (id: number): Promise<string> => /^failed\s+(.*)$/m.exec(await acct(id))?.[1] ?? '';

  t.test('LD_PRELOAD reaches only processes of the user, never a root one', async (t) => {
    const records = fs.readdirSync(evidence);
    t.ok(records.some((r) => r.startsWith(`uid-${mallory.uid}-`)), `the library was loaded by the task as uid ${mallory.uid}: ${records.join(' ')}`);
    t.same(records.filter((r) => !r.startsWith(`uid-${mallory.uid}-`)), [], 'no process of another uid (root) loaded it');
    t.match(await acct(preload), /\nexit_status\s+0\s*\n/);
  });

  t.test('a file:// input the user cannot read: failed, final, with the kernel\'s reason; nothing copied', async (t) => {
    const failed = await failedLine(unreadable);
    t.match(failed, new RegExp(`^1\\s+: assumedly before job: input file://${rootPrivate}/ could not be staged .* as user ${ATTACKER} failed: .*Permission denied`));
    t.notOk(fs.existsSync(path.join(home('x'), 'secret.txt')), 'the secret did not reach the user');
    t.match(await acct(unreadable), /^hostname\s+node1\s*$/m);
    t.equal((await acct(unreadable)).match(/^=+$/gm)?.length, 1, 'one attempt: the user\'s own rights are not retried on other nodes');
  });

  t.test('qsub -sync y says why a job never ran, on stderr, and exits 1', async (t) => {
    const res = await farm.runAs(mallory, 'qsub', ['-sync', 'y', '-data', `file://${rootPrivate}/:${home('y')}:rw`, '-b', 'y', 'true']);
    t.equal(res.code, 1);
    const id = /Your job (\d+)/.exec(res.stdout)?.[1];
    t.match(res.stderr, new RegExp(`^Unable to run job ${id}\nJob ${id} failed before it ran: input file://${rootPrivate}/ could not be staged .*Permission denied`));
  });

  t.test('a :ro input is the user\'s own read-only copy, no hard link into a cache', async (t) => {
    t.match(await acct(readOnly), /\nfailed\s+0\s/);
    for (const file of ['a.txt', 'sub/b.txt']) {
      const st = fs.statSync(path.join(home('ro'), file));
      t.equal(st.uid, mallory.uid, `${file} owned by the user`);
      t.equal(st.nlink, 1, `${file} is a copy, not a hard link`);
      t.equal(st.mode & 0o222, 0, `${file} is read-only`);
    }
  });

  t.test('inputs into /etc and outputs into /etc or /root are refused as the user; root creates nothing', async (t) => {
    t.match(await failedLine(intoEtc), new RegExp(`assumedly before job: input file://${project}/ could not be staged to ${etcInput}: .*Permission denied`));
    t.match(await failedLine(outToEtc), new RegExp(`100 : assumedly after job: the task ran \\(exit 0\\) but uploading \\$OUTDIR to file://${etcOutput}/ failed: writing outputs to ${etcOutput} as user ${ATTACKER} failed: .*Permission denied`));
    t.match(await failedLine(outOverRoot), new RegExp(`100 : assumedly after job: the task ran \\(exit 0\\) but uploading \\$OUTDIR to file:///root/ failed: .*as user ${ATTACKER} failed: .*Permission denied`));
    t.notOk(fs.existsSync(etcInput), `${etcInput} was not created`);
    t.notOk(fs.existsSync(etcOutput), `${etcOutput} was not created`);
    t.equal(fs.readFileSync(victim, 'utf8'), 'precious\n', "root's file is untouched");
    t.equal(fs.statSync(victim).uid, 0);
  });

  t.test('-wd into a directory of root: the task is not started there', async (t) => {
    t.match(await failedLine(rootWd), new RegExp(`assumedly before job: .*${rootSecretDir}.*Permission denied`));
    const out = home('root-wd.out');
    if (fs.existsSync(out)) t.notMatch(fs.readFileSync(out, 'utf8'), SECRET, 'the secret is not in its output');
  });

  t.test('no readable /proc/*/environ or cmdline holds the agent token or the API token', async (t) => {
    const dump = fs.readFileSync(home('procdump'), 'utf8');
    t.match(dump, /JOB_ID=/, 'the dump holds the task\'s own environment (it did read /proc)');
    t.notMatch(dump, farm.token('agent'), 'no agent token');
    t.notMatch(dump, farm.token('api'), 'no admin token');
    t.notMatch(dump, /QFARM_AGENT_TOKEN/);
  });

  t.test('a 20 MB output line is written to the user\'s file; the farm is unaffected', async (t) => {
    t.match(await acct(hugeLine), /\nexit_status\s+0\s*\n/);
    t.equal(fs.statSync(home('huge-line.out')).size, 20_000_000);
  });

  t.test('a file flipped to a link to /etc/shadow during the upload never uploads it', async (t) => {
    const loot = path.join(home('flipout'), 'loot');
    const uploaded = fs.existsSync(loot) ? fs.readFileSync(loot, 'utf8') : undefined;
    t.not(uploaded, shadowBefore, '/etc/shadow did not reach the user');
    if (uploaded !== undefined) t.equal(uploaded, 'mine\n', 'what went up is the user\'s own content');
    const text = await acct(flip);
    // Each attempt that lost the race names the file; one that saw no flip succeeded.
    for (const failed of text.match(/^failed\s+[1-9].*$/gm) ?? []) t.match(failed, /(loot|l\.tmp|r\.tmp):? (is a symbolic link|was replaced|vanished|was removed|was modified|changed size|shrank|grew)/);
  });

  t.test('a raw request over api.sock that names its submitter is refused', async (t) => {
    const script = `
      const http = require('node:http');
      const req = http.request({ socketPath: process.argv[1], method: 'POST', path: '/api/v1/jobs', headers: { 'content-type': 'application/json' } }, (res) => {
        let text = ''; res.setEncoding('utf8'); res.on('data', (c) => (text += c));
        res.on('end', () => process.stdout.write(res.statusCode + ' ' + text));
      });
      req.end(JSON.stringify({ name: 'evil', submitter: { user: 'root', uid: 0, gid: 0, group: 'root', home: '/root' }, submitHost: 'x', command: { kind: 'binary', argv: ['id'] },
        cwd: '/', submitCwd: '/', joinOutput: false, env: {}, hold: false, holdJobs: [], priority: 0, slots: 1, resources: { other: {} }, pty: false }));`;
    const res = await runAsUser(mallory, [process.execPath, '-e', script, path.join(farm.home, 'api.sock')]);
    t.match(res.stdout, /^400 .*carries \\?"submitter\\?": identity comes from the connection/);
  });

  t.test("qdel and qalter of root's job: SGE's refusal, the job unchanged", async (t) => {
    const rename = (text: string) => text.replaceAll('qfarm-bob', ATTACKER).replaceAll('"2"', `"${rootJob}"`).replace(/job 2\b/, `job ${rootJob}`);
    for (const [verb, args] of [['qdel', []], ['qalter', ['-p', '-5']]] as const) {
      const probe = sgeProbe('ownership.txt', `${[verb, ...args].join(' ')} 2`);
      const res = await farm.runAs(mallory, verb, [...args, String(rootJob)]);
      t.equal(res.stdout, probe.stdout.map((l) => `${rename(l)}\n`).join(''), `${verb}: SGE's words`);
      t.equal(res.code, probe.exit, `${verb}: SGE's exit status`);
    }
    const detail = await farm.run('qstat', ['-j', String(rootJob)]);
    t.match(detail.stdout, /\npriority:\s+-10\n/, 'priority as root set it');
    t.match((await farm.run('qstat', [])).stdout, new RegExp(`\\s${rootJob} .* hqw `), 'still queued and held');
  });

  t.test('afterwards a job of the attacker and one of root both succeed', async (t) => {
    t.equal(fs.readFileSync('/etc/shadow', 'utf8'), shadowBefore, '/etc/shadow unchanged');
    const own = await farm.runAs(mallory, 'qsub', ['-sync', 'y', '-b', 'y', '-o', home('after.out'), '-j', 'y', 'id', '-u']);
    t.equal(own.code, 0, own.stderr);
    t.equal(fs.readFileSync(home('after.out'), 'utf8').trim(), String(mallory.uid));
    const root = await farm.run('qsub', ['-sync', 'y', '-b', 'y', 'true']);
    t.equal(root.code, 0, root.stderr);
    t.equal((await farm.run('qdel', [String(rootJob)])).code, 0);
  });
});
