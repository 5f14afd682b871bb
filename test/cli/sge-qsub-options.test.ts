import t from 'tap';
import { parseQsubWords, parseStartTime, type OptionSource } from '../../cli/qsub-options.js';
import { CliError } from '../../cli/cli-errors.js';
import { verifySubmission } from '../../cli/qsub-verify.js';
import { buildSubmission } from '../../cli/build-submission.js';
import type { HostView } from '../../protocol/api.js';
import { sgeProbe } from './sge-transcript.js';

const source: OptionSource = { label: 'the command line', allowCommand: true, environment: {}, processCwd: '/tmp', readFile: () => '' };
const FILE = 'qsub-options.txt';

/** Parses a recorded command line (`qsub ...`) and returns qfarm's error, if any. */
function errorOf(command: string): CliError | null {
  const words = command.split(' ').slice(1);
  try {
    parseQsubWords(words, source);
    return null;
  } catch (error) {
    if (error instanceof CliError) return error;
    throw error;
  }
}

t.test('option values SGE refuses are refused with SGE\'s lines and exit status', async (t) => {
  for (const command of ['qsub -a 99 -b y true', 'qsub -a 13312359 -b y true', 'qsub -r maybe -b y true', 'qsub -now maybe -b y true', 'qsub -w x -b y true']) {
    const sge = sgeProbe(FILE, command);
    const ours = errorOf(command);
    t.ok(ours, `${command} is refused`);
    t.same(ours!.message.split('\n'), sge.stderr, `${command}: SGE's stderr`);
    t.equal(ours!.exitCode, sge.exit, `${command}: SGE's exit status`);
  }
  for (const command of ['qsub -a 2612312359.30 -b y true', 'qsub -a 202612312359 -b y true']) {
    t.equal(sgeProbe(FILE, command).exit, 0, `SGE accepts ${command}`);
    t.equal(errorOf(command), null, `qfarm accepts ${command}`);
  }
});

t.test('-a [[CC]YY]MMDDhhmm[.SS] is local time; a missing year is this year', async (t) => {
  const now = new Date(2026, 10, 23, 10, 0, 0);
  t.equal(parseStartTime('12312359', now), new Date(2026, 11, 31, 23, 59, 0).getTime());
  t.equal(parseStartTime('2612312359.30', now), new Date(2026, 11, 31, 23, 59, 30).getTime());
  t.equal(parseStartTime('202612312359', now), new Date(2026, 11, 31, 23, 59, 0).getTime());
  t.throws(() => parseStartTime('02302359', now), { message: /Invalid day specification/ });
  t.throws(() => parseStartTime('12312459', now), { message: /Invalid hour specification/ });
});

const host = (over: Partial<HostView>): HostView => ({
  hostname: 'vm', group: 'all.q', arch: 'lx-amd64', ncpu: 2, nsoc: 1, ncor: 2, nthr: 2, load: 0.5,
  memTotalBytes: 23.5 * 1024 ** 3, memUsedBytes: 1024 ** 3, swapTotalBytes: 0, swapUsedBytes: 0,
  slots: 2, slotsUsed: 0, state: 'online', lastSeen: 0, labels: {}, ...over,
});

t.test('-w e|w|v verification finds the same answer as SGE on the same host (2 slots, 23.5G)', async (t) => {
  const hosts = [host({})];
  const submit = (words: string[]) =>
    buildSubmission(parseQsubWords(words, source).options, { kind: 'binary', argv: ['true'] }, {
      submitter: { user: 'root', uid: 0, gid: 0, group: 'root', home: '/root' },
      submitHost: 'vm',
      processCwd: '/tmp',
      environment: {},
    });
  // SGE's verdicts, from the transcript: found / not found.
  const cases: Array<[string, string[]]> = [
    ['qsub -w v -b y true', []],
    ['qsub -w e -l mem_free=100G -b y true', ['-l', 'mem_free=100G']],
    ['qsub -w v -pe smp 8 -b y true', ['-pe', 'smp', '8']],
    ['qsub -w v -pe smp 2 -b y true', ['-pe', 'smp', '2']],
    ['qsub -w v -l arch=lx-amd64 -b y true', ['-l', 'arch=lx-amd64']],
  ];
  for (const [command, words] of cases) {
    const sge = sgeProbe(FILE, command);
    const sgeFound = sge.exit === 0;
    const found = verifySubmission(submit(words), hosts);
    t.equal(found.suitable.length > 0, sgeFound, `${command}: suitable queue ${sgeFound ? '' : 'not '}found, as SGE`);
  }
  t.same(sgeProbe(FILE, 'qsub -w v -b y true').stdout, ['verification: found suitable queue(s)']);
  const unknown = verifySubmission(submit(['-q', 'nosuch.q']), hosts);
  t.equal(unknown.unknownQueue, 'nosuch.q');
  t.same(sgeProbe(FILE, 'qsub -w e -q nosuch.q -b y true').stderr, ['Unable to run job: Job was rejected because job requests unknown queue "nosuch.q"', 'Exiting.']);
  t.equal(verifySubmission(submit(['-q', 'all.q@vm']), hosts).suitable.length, 1, 'group@host');
});

t.test('a Nextflow sge job script header (#$ -notify and friends) is accepted and kept', async (t) => {
  const { scriptDirectiveWords } = await import('../../cli/shell-words.js');
  const script = ['#!/bin/bash', '#$ -wd /tmp/work/ab/123', '#$ -N nf-ALIGN_(1)', '#$ -o /tmp/work/ab/123/.command.log', '#$ -j y', '#$ -terse', '#$ -notify', '#$ -l h_rt=01:00:00', '#$ -l h_vmem=4G', 'bash .command.run', ''].join('\n');
  const options = parseQsubWords(scriptDirectiveWords(script, '#$'), { ...source, allowCommand: false }).options;
  t.equal(options.notify, true);
  const submission = buildSubmission(options, { kind: 'script', script, scriptName: '.command.run', args: [] }, {
    submitter: { user: 'root', uid: 0, gid: 0, group: 'root', home: '/root' },
    submitHost: 'vm',
    processCwd: '/tmp',
    environment: {},
  });
  t.equal(submission.notify, true);
  t.equal(submission.resources.wallclockSeconds, 3600);
});
