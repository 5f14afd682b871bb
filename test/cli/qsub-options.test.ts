import t from 'tap';
import { emptyQsubOptions, mergeQsubOptions, parseQsubWords, resourceRequest, type OptionSource } from '../../cli/qsub-options.js';
import { buildSubmission } from '../../cli/build-submission.js';
import { BadOptionError, BadOptionValueError, CliError, HelpRequested, UnsupportedOptionError } from '../../cli/cli-errors.js';
import { scriptDirectiveWords, splitShellWords } from '../../cli/shell-words.js';
import { parseEnvList, parseMemoryBytes, parseTimeSeconds } from '../../cli/sge-values.js';
import { parseJobTargets } from '../../cli/job-targets.js';
import { syncReport } from '../../cli/sync-wait.js';
import { validators } from '../../protocol/api.js';

const files: Record<string, string> = { '/work/opts.txt': '-N fromfile # a comment\n-p 7\n' };
const source: OptionSource = {
  label: 'the command line',
  allowCommand: true,
  environment: { HOME: '/home/alice', PATH: '/usr/bin:/bin', SHELL: '/bin/bash', FROMENV: 'yes' },
  processCwd: '/work',
  readFile: (file) => {
    const text = files[file];
    if (text === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return text;
  },
};
const parse = (words: string[]) => parseQsubWords(words, source);
const submitter = { user: 'alice', uid: 1000, gid: 1000, group: 'alice', home: '/home/alice' };
const ctx = { submitter, submitHost: 'node1', processCwd: '/work', environment: source.environment };

t.test('every supported option lands in the submission', async (t) => {
  const { options, positional } = parse([
    '-N', 'align', '-o', 'logs/out', '-e', 'node9:/abs/err', '-j', 'y', '-cwd', '-v', 'A=1,B', '-t', '2-10:2',
    '-hold_jid', '5,prep', '-h', '-p', '-10', '-terse', '-sync', 'y', '-q', 'gpu', '-pe', 'smp', '4',
    '-l', 'h_rt=01:30:00,h_vmem=4G', '-l', 'mem_free=512M,scratch=1', '-S', '/bin/bash', '-pty', 'y', '-b', 'y',
    'bwa', 'mem', 'ref.fa',
  ]);
  t.same(positional, ['bwa', 'mem', 'ref.fa']);
  t.equal(options.terse, true);
  t.equal(options.sync, true);
  const sub = buildSubmission(options, { kind: 'binary', argv: positional }, ctx);
  t.ok(validators.jobSubmitRequest.check(sub), 'the body passes the protocol schema');
    t.notOk('submitter' in sub, 'who submits is not in the body: the master takes it from the connection');
  t.equal(sub.name, 'align');
  t.equal(sub.cwd, '/work', '-cwd is the directory qsub runs in');
  t.equal(sub.stdoutPath, '/work/logs/out', 'relative output paths are relative to the working directory');
  t.equal(sub.stderrPath, '/abs/err', "SGE's host: prefix is dropped");
  t.equal(sub.joinOutput, true);
  t.equal(sub.env.A, '1');
  t.equal(sub.env.B, '', 'a -v name unset in qsub\'s environment is exported empty');
  t.equal(sub.env.SGE_O_WORKDIR, '/work');
  t.equal(sub.env.SGE_O_PATH, '/usr/bin:/bin');
  t.equal(sub.env.FROMENV, undefined, 'without -V the environment is not exported');
  t.same(sub.array, { first: 2, last: 10, step: 2 });
  t.same(sub.holdJobs, ['5', 'prep']);
  t.equal(sub.hold, true);
  t.equal(sub.priority, -10);
  t.equal(sub.queue, 'gpu');
  t.equal(sub.slots, 4);
  t.same(sub.resources, { wallclockSeconds: 5400, vmemBytes: 4 * 1024 ** 3, memFreeBytes: 512 * 1024 ** 2, other: { scratch: '1' } });
  t.equal(sub.shell, '/bin/bash');
  t.equal(sub.pty, true);
});

t.test('defaults are SGE\'s', async (t) => {
  const { options, positional } = parse(['-b', 'y', '/usr/bin/true']);
  const sub = buildSubmission(options, { kind: 'binary', argv: positional }, ctx);
  t.equal(sub.name, 'true', 'binary jobs are named after the command\'s basename');
  t.equal(sub.cwd, '/home/alice', 'the working directory defaults to the home directory');
  t.equal(sub.priority, 0);
  t.equal(sub.slots, 1);
  t.equal(sub.joinOutput, false);
  t.equal(sub.hold, false);
  t.notOk('stdoutPath' in sub);
  t.notOk('array' in sub);
  const script = buildSubmission(emptyQsubOptions(), { kind: 'script', script: 'true', scriptName: 'dir/run.sh', args: [] }, ctx);
  t.equal(script.name, 'run.sh', 'script jobs are named after the script\'s basename');
  const stdin = buildSubmission(emptyQsubOptions(), { kind: 'script', script: 'true', scriptName: 'STDIN', args: [] }, ctx);
  t.equal(stdin.name, 'STDIN');
  const all = buildSubmission(parse(['-V', '-wd', 'sub', 'x']).options, { kind: 'binary', argv: ['x'] }, ctx);
  t.equal(all.env.FROMENV, 'yes', '-V exports the whole environment');
  const secret = buildSubmission(parse(['-V', '-v', 'QFARM_AGENT_TOKEN=a', 'x']).options, { kind: 'binary', argv: ['x'] }, { ...ctx, environment: { ...ctx.environment, QFARM_TOKEN: 's3cret' } });
  t.equal(secret.env.QFARM_TOKEN, undefined, 'the API token is never exported into a job');
  t.equal(secret.env.QFARM_AGENT_TOKEN, undefined);
  t.equal(all.cwd, '/work/sub', '-wd is resolved against the current directory');
  const vars = buildSubmission(parse(['-o', '$HOME/logs/$JOB_NAME.o$JOB_ID.$TASK_ID', '-e', '$JOB_NAME.err', 'x']).options, { kind: 'binary', argv: ['x'] }, ctx);
  t.equal(vars.stdoutPath, '/home/alice/logs/$JOB_NAME.o$JOB_ID.$TASK_ID', '$HOME is expanded, the job\'s own variables are kept');
  t.equal(vars.stderrPath, '/home/alice/$JOB_NAME.err', 'relative to the working directory (home by default)');
});

t.test('script directives: all #$ lines, command line wins', async (t) => {
  const script = ['#!/bin/bash', '#$ -N fromscript', '#$ -l h_rt=100 -v A=script,B=script', 'echo hi', '#$ -p 5', '# $ -N notadirective', '#$ -pe smp 2'].join('\n');
  const words = scriptDirectiveWords(script);
  t.same(words, ['-N', 'fromscript', '-l', 'h_rt=100', '-v', 'A=script,B=script', '-p', '5', '-pe', 'smp', '2'], 'directives after the first command are read too');
  const fromScript = parseQsubWords(words, { ...source, allowCommand: false }).options;
  const fromLine = parse(['-N', 'fromline', '-v', 'A=line', '-l', 'h_vmem=1G']).options;
  const merged = mergeQsubOptions([fromScript, fromLine]);
  t.equal(merged.name, 'fromline', 'the command line overrides a directive');
  t.equal(merged.priority, 5, 'directives the command line does not touch stay');
  t.same(merged.env, { A: 'line', B: 'script' }, '-v merges per variable');
  t.same(merged.resources, { h_rt: '100', h_vmem: '1G' }, '-l merges per resource');
  t.equal(merged.slots, 2);
  t.same(scriptDirectiveWords('#% -N x\n#$ -N y', '#%'), ['-N', 'x'], '-C changes the prefix');
  t.same(scriptDirectiveWords('#$ -N y', ''), [], '-C "" turns directives off');
  t.throws(() => parseQsubWords(['-N', 'x', 'stray'], { ...source, label: 'the #$ lines of s.sh', allowCommand: false }), BadOptionError, 'a directive cannot name a command');
  const cleared = mergeQsubOptions([fromScript, parse(['-clear', '-p', '1']).options]);
  t.equal(cleared.name, undefined, '-clear drops what earlier sources set');
  t.equal(cleared.priority, 1);
});

t.test('quoting', async (t) => {
  t.same(splitShellWords(`-N "my job" -v A="x,y",B='p q' -o out\\ file`), ['-N', 'my job', '-v', 'A="x,y",B=\'p q\'', '-o', 'out file']);
  t.same(parseEnvList('A="x,y",B=\'p q\',C=1', {}), { A: 'x,y', B: 'p q', C: '1' }, 'quoted commas stay in the value');
  t.same(parseEnvList('A=x,y', { y: 'fromenv' }), { A: 'x', y: 'fromenv' }, 'unquoted commas separate variables, as in SGE');
  const fromDirective = parseQsubWords(scriptDirectiveWords('#$ -v A="x,y"'), { ...source, allowCommand: false }).options;
  t.same(fromDirective.env, { A: 'x,y' }, '#$ -v A="x,y" keeps the comma');
  t.throws(() => parse(['-v', '1BAD=2']), BadOptionValueError);
  t.throws(() => splitShellWords('-N "open'), /unterminated/);
});

t.test('-@ option files', async (t) => {
  const { options, positional } = parse(['-@', 'opts.txt', '-b', 'y', 'x']);
  t.equal(options.name, 'fromfile');
  t.equal(options.priority, 7);
  t.same(positional, ['x']);
  t.throws(() => parse(['-@', 'missing.txt']), { message: /cannot read option file \/work\/missing\.txt: ENOENT/ });
});

t.test('values: time and memory as SGE accepts them', async (t) => {
  t.equal(parseTimeSeconds('01:30:00'), 5400);
  t.equal(parseTimeSeconds('90'), 90);
  t.equal(parseTimeSeconds('1:30'), 90);
  t.equal(parseTimeSeconds('::30'), 30);
  t.equal(parseTimeSeconds('abc'), null);
  t.equal(parseMemoryBytes('4G'), 4 * 1024 ** 3);
  t.equal(parseMemoryBytes('512M'), 512 * 1024 ** 2);
  t.equal(parseMemoryBytes('1024K'), 1024 * 1024);
  t.equal(parseMemoryBytes('1k'), 1000, 'lower case units are powers of 1000 in SGE');
  t.equal(parseMemoryBytes('1g'), 1e9);
  t.equal(parseMemoryBytes('123'), 123);
  t.equal(parseMemoryBytes('2X'), null);
  t.same(resourceRequest({ h_rt: 'INFINITY', arch: 'lx-amd64' }), { other: { arch: 'lx-amd64' } });
  t.throws(() => resourceRequest({ h_rt: 'abc' }), { message: 'Unable to run job: attribute "h_rt" is not a time value\nExiting.', exitCode: 1 });
  t.throws(() => resourceRequest({ h_vmem: '2X' }), { message: 'Unable to run job: attribute "h_vmem" is not a memory value\nExiting.' });
});

t.test('errors word and exit like SGE 8.1.9 (test/cli/fixtures/sge-probes.txt)', async (t) => {
  t.throws(() => parse(['-foo']), { message: 'qsub: invalid option argument "-foo"', exitCode: 2 });
  t.throws(() => parse(['-N']), { message: 'qsub: -N option must have argument', exitCode: 2 });
  t.throws(() => parse(['-p', '2000']), { message: 'qsub: invalid priority "2000".  Must be an integer from -1023 to 1024', exitCode: 7 });
  t.throws(() => parse(['-j', 'maybe']), { message: 'qsub: invalid option argument "-j maybe"', exitCode: 7 });
  t.throws(() => parse(['-b', 'maybe']), { message: 'qsub: invalid option argument "-b maybe"', exitCode: 7 });
  t.throws(() => parse(['-sync', 'maybe']), { message: 'qsub: invalid option argument "-sync maybe"', exitCode: 7 });
  t.throws(() => parse(['-pe', 'smp', 'x']), { message: 'qsub: Numerical value invalid!\nThe initial portion of string "x" contains no decimal number', exitCode: 7 });
  t.throws(() => parse(['-pe', 'mpi', '2']), { message: 'Unable to run job: job rejected: the requested parallel environment "mpi" does not exist\nExiting.', exitCode: 1 });
  t.throws(() => parse(['-t', '0-3']), { message: 'Unable to run job: job rejected: 0 is an invalid task id\nExiting.', exitCode: 1 });
  t.same(parse(['-t', '5-3']).options.array, { first: 3, last: 5, step: 1 }, 'a reversed range is turned around, as SGE does');
  t.throws(() => parse(['-t', 'x']), BadOptionValueError);
  t.throws(() => parse(['-t', '1-3:0']), { message: 'qsub: Negative or zero step in range is not allowed', exitCode: 7 });
  for (const option of ['-M', '-A', '-P', '-js', '-R', '-soft']) {
    t.throws(() => parse([option, 'v']), { message: `qsub: option "${option}" is not supported by qfarm yet`, exitCode: 1 }, `${option} is refused, not ignored`);
  }
  t.throws(() => parse(['-m', 'bea']), UnsupportedOptionError, '-m with mail is refused');
  t.same(parse(['-m', 'n', '-r', 'y', '-w', 'n', '-shell', 'n', '-now', 'n', '-hard', 'x']).positional, ['x'], 'values that match what qfarm does are accepted');
  const more = parse(['-notify', '-r', 'n', '-now', 'y', '-w', 'v', 'x']).options;
  t.same([more.notify, more.rerun, more.now, more.verify], [true, false, true, 'v'], '-notify -r -now -w');
  t.throws(() => parse(['-help']), HelpRequested);
  const error = (() => {
    try {
      parse(['-foo']);
    } catch (e) {
      return e as CliError;
    }
  })();
  t.match(error?.hint, /qsub -help/, 'every error says what to do');
});

t.test('-hold_jid_ad: task N waits for task N of the named array jobs', async (t) => {
  const sub = buildSubmission(parse(['-t', '1-4', '-hold_jid_ad', '5,align', '-hold_jid_ad', '5', 'x']).options, { kind: 'binary', argv: ['x'] }, ctx);
  t.same(sub.holdJobsArray, ['5', 'align']);
  t.ok(validators.jobSubmitRequest.check(sub));
  const plain = buildSubmission(parse(['x']).options, { kind: 'binary', argv: ['x'] }, ctx);
  t.notOk('holdJobsArray' in plain, 'absent when not asked for');
  t.throws(() => buildSubmission(parse(['-hold_jid_ad', '5', 'x']).options, { kind: 'binary', argv: ['x'] }, ctx), {
    message: 'Unable to run job: Can only specify "-hold_jid_ad" option with an array job (using "-t" option)\nExiting.',
    exitCode: 1,
  });
});

t.test('job names follow SGE\'s rules and messages', async (t) => {
  const named = (name: string) => () => buildSubmission(parse(['-N', name, 'x']).options, { kind: 'binary', argv: ['x'] }, ctx);
  t.throws(named('1abc'), { message: 'Unable to run job: denied: "1abc" is not a valid object name (cannot start with a digit)\nExiting.', exitCode: 1 });
  t.throws(named('a/b'), { message: 'qsub: argument to -N option must not contain / ', exitCode: 2 });
  t.throws(named('a:b'), { message: "Unable to run job: Colon (':') not allowed in objectname\nExiting." });
  t.throws(named('a@b'), { message: "Unable to run job: At ('@') not allowed in objectname\nExiting." });
  t.throws(named('a b'), { exitCode: 1 });
  t.doesNotThrow(named('snakejob.bwa_map.3.sh'));
});

t.test('job targets of qdel/qhold/qrls/qalter', async (t) => {
  t.same(parseJobTargets('qdel', ['8']), [{ job: '8' }]);
  t.same(parseJobTargets('qdel', ['9.2']), [{ job: '9', tasks: { first: 2, last: 2, step: 1 } }]);
  t.same(parseJobTargets('qdel', ['1,2', '3']), [{ job: '1' }, { job: '2' }, { job: '3' }]);
  t.same(parseJobTargets('qdel', ['9'], '2'), [{ job: '9', tasks: { first: 2, last: 2, step: 1 } }], 'qdel -t 2 9');
  t.same(parseJobTargets('qdel', ['sleeper']), [{ job: 'sleeper' }], 'a job name');
  t.throws(() => parseJobTargets('qdel', ['9.x']), CliError);
});

t.test('qsub -sync y report as SGE prints it', async (t) => {
  t.same(syncReport({ jobId: 4, finished: true, tasks: [{ taskId: null, exitStatus: 0, failedCode: 0, deleted: false }] }, false), { lines: [{ stream: 'stdout', text: 'Job 4 exited with exit code 0.' }], exitCode: 0 });
  t.same(syncReport({ jobId: 2, finished: true, tasks: [{ taskId: null, exitStatus: 1, failedCode: 0, deleted: false }] }, false), { lines: [{ stream: 'stderr', text: 'Job 2 exited with exit code 1.' }], exitCode: 1 });
  t.same(syncReport({ jobId: 9, finished: true, tasks: [{ taskId: null, exitStatus: 137, failedCode: 0, deleted: false }] }, false), { lines: [{ stream: 'stderr', text: 'Job 9 exited because of signal SIGKILL' }], exitCode: 1 });
  t.same(syncReport({ jobId: 8, finished: true, tasks: [{ taskId: null, exitStatus: 137, failedCode: 100, deleted: true }] }, false), { lines: [{ stream: 'stderr', text: 'Unable to run job 8' }], exitCode: 1 });
  const array = syncReport(
    {
      jobId: 6,
      finished: true,
      tasks: [1, 2, 3].map((id) => ({ taskId: id, exitStatus: 3 - id, failedCode: 0, deleted: false })),
    },
    true,
  );
  t.same(
    array,
    {
      lines: [
        { stream: 'stderr', text: 'Job 6.1 exited with exit code 2.' },
        { stream: 'stderr', text: 'Job 6.2 exited with exit code 1.' },
        { stream: 'stdout', text: 'Job 6.3 exited with exit code 0.' },
      ],
      exitCode: 2,
    },
    'per line: exit 0 on stdout, others on stderr; an array exits with its first failed task\'s status',
  );
});
