// SGE's sample was recorded on a UTC machine; its local times are UTC.
process.env.TZ = 'UTC';

import t from 'tap';
import type { AccountingRecord, HostView, JobDetail, QstatRow, TaskDetail } from '../../protocol/api.js';
import type { TaskUsage } from '../../protocol/agent-messages.js';
import { formatQstat } from '../../cli/format/qstat-table.js';
import { formatQstatFull } from '../../cli/format/qstat-full.js';
import { formatQstatXml } from '../../cli/format/qstat-xml.js';
import { readFileSync } from 'node:fs';
import { formatQhost } from '../../cli/format/qhost-table.js';
import { formatJobDetail, formatMissingJobs } from '../../cli/format/qstat-job.js';
import { formatAccountingRecord } from '../../cli/format/qacct-job.js';
import { formatOwnerUsage, formatTotalUsage } from '../../cli/format/qacct-summary.js';
import { ctimeDate, qstatDate } from '../../cli/format/sge-time.js';
import { sgeOutput } from './sge-sample.js';

/** The README, whose compatibility table lists where qfarm differs from SGE. */
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

const at = (hms: string, day = 23): number => {
  const [h, m, s] = hms.split(':').map(Number) as [number, number, number];
  return Date.UTC(2026, 10, day, h, m, s);
};
const MB = 1024 * 1024;
const GB = 1024 * MB;

const row = (jobId: number, name: string, state: QstatRow['state'], time: string, queue: string, tasks = ''): QstatRow => ({
  jobId,
  prior: 0.5,
  name,
  owner: 'root',
  state,
  time: at(time),
  queue,
  slots: 1,
  tasks,
});

const vm: HostView = {
  hostname: 'vm',
  group: 'all.q',
  arch: 'lx-amd64',
  ncpu: 2,
  nsoc: 1,
  ncor: 2,
  nthr: 2,
  load: 0.13,
  memTotalBytes: 23.5 * GB,
  memUsedBytes: 183.0 * MB,
  swapTotalBytes: 0,
  swapUsedBytes: 0,
  slots: 2,
  slotsUsed: 2,
  state: 'online',
  lastSeen: at('07:08:39'),
  labels: {},
};

const firstQueue = [
  row(6, 'sleeper', 'r', '07:08:39', 'all.q@vm'),
  row(7, 'sleeper', 'r', '07:08:40', 'all.q@vm'),
  row(8, 'sleeper', 'qw', '07:08:39', ''),
  row(9, 'sleep', 'qw', '07:08:39', '', '1-4:1'),
];

t.test('dates in SGE formats', async (t) => {
  t.equal(qstatDate(at('07:08:39')), '11/23/2026 07:08:39');
  t.equal(ctimeDate(at('07:08:39')), 'Mon Nov 23 07:08:39 2026');
  t.equal(ctimeDate(Date.UTC(2026, 10, 3, 1, 2, 3)), 'Tue Nov  3 01:02:03 2026', 'ctime pads the day with a blank');
});

t.test('qstat matches SGE byte for byte', async (t) => {
  t.equal(formatQstat(firstQueue), sgeOutput('qstat'));
  t.equal(formatQstat(firstQueue), sgeOutput('qstat -u "*"'));
  const afterTaskDelete = [...firstQueue.slice(0, 3), row(9, 'sleep', 'qw', '07:08:39', '', '1,3,4')];
  t.equal(formatQstat(afterTaskDelete), sgeOutput('qstat', 2));
  t.equal(formatQstat([firstQueue[1]!]), sgeOutput('qstat', 3));
  const finished = [
    row(1, 'true', 'z', '07:08:06', '', '1-10:1'),
    row(2, 'true', 'z', '07:08:21', '', '1-10:1'),
    row(3, 'true', 'z', '07:08:33', '', '1-10:1'),
    row(4, 'true', 'z', '07:08:33', ''),
    row(5, 'STDIN', 'z', '07:08:33', ''),
    row(9, 'sleep', 'z', '07:08:39', '', '1-4:1'),
  ];
  t.equal(formatQstat(finished), sgeOutput('qstat -s z'));
  const array = [row(10, 'sleep', 'r', '07:08:56', 'all.q@vm', '1'), row(10, 'sleep', 'r', '07:08:56', 'all.q@vm', '2'), row(10, 'sleep', 'qw', '07:08:56', '', '3-5:1')];
  t.equal(formatQstat(array), sgeOutput('qstat', 4));
  t.equal(formatQstat([]), '', 'an empty queue prints nothing at all');
  t.equal(sgeOutput('qstat', 5), '', 'as the sample shows');
  t.match(formatQstat([{ ...firstQueue[0]!, name: 'averyveryverylongname', owner: 'someone-with-a-long-name' }]), /^ {6}6 0\.50000 averyveryv someone-with r {5}/m, 'name and user are cut to their columns');
});

t.test('qstat -f matches SGE byte for byte', async (t) => {
  t.equal(formatQstatFull([vm], firstQueue), sgeOutput('qstat -f'));
  const offline: HostView = { ...vm, hostname: 'gone', state: 'offline', load: null, slotsUsed: 0 };
  const text = formatQstatFull([vm, offline], []);
  t.match(text, /^all\.q@gone {21}BI {4}0\/0\/2 {10}-NA- {5}lx-amd64 {6}au$/m, 'a disconnected host shows -NA- and state au');
  t.notMatch(text, /PENDING/, 'no pending block without pending jobs');
  t.equal(formatQstatFull([], []), '');
});

t.test('qhost matches SGE byte for byte', async (t) => {
  t.equal(formatQhost([vm]), sgeOutput('qhost'));
  const text = formatQhost([{ ...vm, hostname: 'lost', state: 'offline', load: null, memUsedBytes: null, swapUsedBytes: null }]);
  t.match(text, /^lost {20}lx-amd64 {8}2 {4}1 {4}2 {4}2 {5}- {3}23\.5G {7}- {5}0\.0 {7}-$/m, 'a disconnected host shows - for load and use');
});

const usage = (over: Partial<TaskUsage> = {}): TaskUsage => ({
  cpuSeconds: 0,
  utimeSeconds: 0,
  stimeSeconds: 0,
  rssBytes: 0,
  maxRssBytes: 0,
  vmemBytes: 0,
  maxVmemBytes: 0,
  ioBytes: 0,
  ...over,
});

const samplePath = '/root/.cargo/bin:/root/.cargo/bin:/root/.pyenv/plugins/pyenv-virtualenv/shims:/root/.pyenv/shims:/root/.pyenv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const schedulingInfo = ['queue instance "all.q@vm" dropped because it is full', 'All queues dropped because of overload or full'];

function detail(jobId: number, name: string, argv: string[], submit: string, tasks: TaskDetail[], array: JobDetail['array'] = null): JobDetail {
  return {
    jobId,
    name,
    submitter: { user: 'root', uid: 0, gid: 0, group: 'root', home: '/root' },
    submitHost: 'vm',
    submitTime: at(submit),
    command: { kind: 'binary', argv },
    shell: '/bin/sh',
    cwd: '/root',
    submitCwd: '/home/alice/work',
    stdoutPath: '/home/alice/work',
    stderrPath: '/home/alice/work',
    joinOutput: false,
    env: { SGE_O_HOME: '/root', SGE_O_PATH: samplePath, SGE_O_SHELL: '/bin/bash', SGE_O_WORKDIR: '/home/alice/work', SGE_O_HOST: 'localhost', TERM: 'NONE' },
    array,
    hold: false,
    waitingFor: [],
    holdJobs: [],
    priority: 0,
    queue: null,
    slots: 1,
    resources: { other: {} },
    pty: false,
    deleted: false,
    tasks,
    schedulingInfo,
  };
}

t.test('qstat -j matches SGE byte for byte', async (t) => {
  const running: TaskDetail = { taskId: null, state: 'r', host: 'vm', startTime: at('07:08:39'), usage: usage({ vmemBytes: 3.422 * MB, maxVmemBytes: 3.422 * MB, ioBytes: 46171 }) };
  t.equal(formatJobDetail(detail(6, 'sleeper', ['sleep', '120'], '07:08:39', [running])), sgeOutput('qstat -j 6'));
  const pending: TaskDetail = { taskId: null, state: 'qw', host: null, startTime: null, usage: null };
  t.equal(formatJobDetail(detail(8, 'sleeper', ['sleep', '120'], '07:08:39', [pending])), sgeOutput('qstat -j 8'));
  t.equal(formatJobDetail(detail(9, 'sleep', ['sleep', '120'], '07:08:39', [pending], { first: 1, last: 4, step: 1 })), sgeOutput('qstat -j 9'));
  const tasks: TaskDetail[] = [
    { taskId: 1, state: 'r', host: 'vm', startTime: at('07:08:56'), usage: usage() },
    { taskId: 2, state: 'r', host: 'vm', startTime: at('07:08:56'), usage: usage({ vmemBytes: 3.414 * MB, maxVmemBytes: 3.414 * MB, ioBytes: 46171 }) },
    { taskId: 3, state: 'qw', host: null, startTime: null, usage: null },
  ];
  t.equal(formatJobDetail(detail(10, 'sleep', ['sleep', '20'], '07:08:56', tasks, { first: 1, last: 5, step: 1 })), sgeOutput('qstat -j 10'));
  // The sample prints "Following jobs do not exist: " then the id; the transcript's own
  // "(exit 1)" marker line is not part of the output.
  t.equal(formatMissingJobs(['999']), sgeOutput('qstat -j 999'));
});

t.test('qstat -j shows the optional fields SGE shows for a script job with requests', async (t) => {
  // What qfarm's qsub stores for the recorded submission (test/cli/fixtures/sge-probes.txt, job 23):
  // qsub -h -cwd -v FOO=bar,BAZ -l h_vmem=1G,mem_free=500M -q all.q -p -5 -hold_jid 1,sl.sh -o out.txt -j y s.sh arg1 arg2
  // (BAZ unset in the submitting shell).
  const job: JobDetail = {
    ...detail(23, 'dirjob', ['x'], '09:42:16', []),
    command: { kind: 'script', script: 'sleep 100\n', scriptName: 's.sh', args: ['arg1', 'arg2'] },
    cwd: '/tmp/sgew',
    stdoutPath: '/tmp/sgew/out.txt',
    stderrPath: null,
    joinOutput: true,
    env: { SGE_O_HOME: '/root', SGE_O_WORKDIR: '/tmp/sgew', SGE_O_HOST: 'localhost', FOO: 'bar', BAZ: '' },
    holdJobs: [1],
    holdJobsRequested: ['1', 'sl.sh'],
    priority: -5,
    queue: 'all.q',
    resources: { wallclockSeconds: 600, vmemBytes: GB, memFreeBytes: 500 * MB, other: {} },
    schedulingInfo: ['Job is in hold state'],
  };
  const text = formatJobDetail(job);
  const recording = readFileSync(new URL('./fixtures/sge-probes.txt', import.meta.url), 'utf8');
  // Lines as real SGE printed them for that submission: each is checked against the recording.
  for (const line of [
    'cwd:                        /tmp/sgew',
    'merge:                      y',
    'hard resource_list:         h_rt=600,h_vmem=1G,mem_free=500M',
    'priority:                   -5',
    'hard_queue_list:            all.q',
    'job_args:                   arg1,arg2',
    'script_file:                s.sh',
    'jid_predecessor_list (req): 1,sl.sh',
    'job_type:                   NONE',
    'scheduling info:            Job is in hold state',
  ]) {
    t.ok(recording.includes(`\nout: ${line}\n`), `recorded from SGE: ${line}`);
    t.ok(text.includes(`\n${line}\n`), line);
  }
  // Where qfarm differs on purpose; each difference is a row of the README's compatibility table.
  for (const [ours, sge, readmeRow] of [
    ['stdout_path_list:           NONE:NONE:/tmp/sgew/out.txt', 'stdout_path_list:           NONE:NONE:out.txt', '`-o/-e` relative paths'],
    ['env_list:                   FOO=bar,BAZ=', 'env_list:                   TERM=NONE,FOO=bar,BAZ=NONE', '`qstat -j` `env_list`'],
  ]) {
    t.ok(recording.includes(`\nout: ${sge}\n`), `SGE prints: ${sge}`);
    t.ok(text.includes(`\n${ours}\n`), `qfarm prints: ${ours}`);
    t.ok(readme.includes(`| ${readmeRow} |`), `the README lists the difference (${readmeRow})`);
  }
  t.notMatch(text, /stderr_path_list|sge_o_path|SGE_O_/, 'unset fields and SGE_O_ variables are not listed');
  t.notMatch(text, /^usage/m, 'no usage before a task runs');
  const order = ['sge_o_workdir', 'account', 'cwd', 'merge', 'hard resource_list', 'mail_list', 'notify', 'job_name', 'stdout_path_list', 'priority', 'jobshare', 'hard_queue_list', 'env_list', 'job_args', 'script_file', 'jid_predecessor_list', 'binding', 'job_type', 'scheduling info'];
  const positions = order.map((label) => text.indexOf(`\n${label}`));
  t.same(positions, [...positions].sort((a, b) => a - b), 'fields come in SGE order');
  t.match(formatJobDetail({ ...job, schedulingInfo: [] }), /scheduling info: {12}There are no messages available\n$/);
});

const zeroCounters = (text: string): string =>
  // qfarm samples no page faults, block I/O or context switches: those counters print as 0.
  text.replace(/^(ru_(?:minflt|majflt|nswap|inblock|oublock|msgsnd|msgrcv|nsignals|nvcsw|nivcsw) +)\d+ */gm, (_m, label: string) => `${label}${'0'.padEnd(20)}`);

function record(over: Partial<AccountingRecord> & { usage?: Partial<TaskUsage> }): AccountingRecord {
  const { usage: u, ...rest } = over;
  return {
    qname: 'all.q',
    hostname: 'vm',
    group: 'root',
    owner: 'root',
    jobname: 'true',
    jobnumber: 4,
    taskid: null,
    priority: 0,
    qsubTime: at('07:08:33'),
    startTime: at('07:08:38'),
    endTime: at('07:08:38'),
    slots: 1,
    failedCode: 0,
    failedReason: '',
    exitStatus: 0,
    signal: null,
    attempts: 1,
    ...rest,
    usage: usage(u),
  };
}

t.test('qacct -j matches SGE byte for byte (except counters qfarm does not sample)', async (t) => {
  t.equal(formatAccountingRecord(record({ usage: { utimeSeconds: 0.005, stimeSeconds: 0.003, cpuSeconds: 0.007, maxRssBytes: 4924 } })), zeroCounters(sgeOutput('qacct -j 4')));
  const killed = record({
    jobname: 'sleeper',
    jobnumber: 6,
    qsubTime: at('07:08:39'),
    startTime: at('07:08:39'),
    endTime: at('07:08:46'),
    failedCode: 100,
    failedReason: 'deleted by root',
    exitStatus: 137,
    signal: 'SIGKILL',
    usage: { utimeSeconds: 0.008, cpuSeconds: 0.008, maxRssBytes: 4980, ioBytes: 46171, maxVmemBytes: 3.422 * MB },
  });
  t.equal(formatAccountingRecord(killed), zeroCounters(sgeOutput('qacct -j 6')));
  const falseJob = record({ jobname: 'false', jobnumber: 427, qsubTime: at('08:35:04'), startTime: at('08:35:04'), endTime: at('08:35:04'), exitStatus: 1, usage: { utimeSeconds: 0.007, cpuSeconds: 0.007, maxRssBytes: 4880 } });
  t.equal(formatAccountingRecord(falseJob), zeroCounters(sgeOutput('qacct -j 427')));
  const tasks = [
    record({ jobnumber: 428, taskid: 1, qsubTime: at('08:35:04'), startTime: at('08:35:05'), endTime: at('08:35:05'), usage: { utimeSeconds: 0.006, stimeSeconds: 0.001, cpuSeconds: 0.007, maxRssBytes: 4924 } }),
    record({ jobnumber: 428, taskid: 2, qsubTime: at('08:35:04'), startTime: at('08:35:06'), endTime: at('08:35:06'), usage: { utimeSeconds: 0.006, stimeSeconds: 0.002, cpuSeconds: 0.008, maxRssBytes: 4968 } }),
    record({ jobnumber: 428, taskid: 3, qsubTime: at('08:35:04'), startTime: at('08:35:06'), endTime: at('08:35:06'), usage: { utimeSeconds: 0.003, stimeSeconds: 0.004, cpuSeconds: 0.007, maxRssBytes: 4880 } }),
  ];
  t.equal(tasks.map(formatAccountingRecord).join(''), zeroCounters(sgeOutput('qacct -j 428')), 'an array prints one block per task');
  t.match(
    formatAccountingRecord({ ...killed, failedCode: 1, failedReason: 'cwd /nope does not exist' }),
    /^failed {7}1   : assumedly before job: cwd \/nope does not exist$/m,
    'a task that never ran: SGE\'s words, then the reason (awk $2 still reads the code)',
  );
  const uploadFailed = formatAccountingRecord({ ...killed, signal: null, exitStatus: 0, failedCode: 100, failedReason: 'the task ran (exit 0) but uploading $OUTDIR to oss://b/p/ failed: AccessDenied' });
  t.match(uploadFailed, /^failed {7}100 : assumedly after job: the task ran \(exit 0\) but uploading \$OUTDIR to oss:\/\/b\/p\/ failed: AccessDenied\n/m, 'an upload that failed after the task ran: SGE\'s words, then the reason');
  t.notMatch(formatAccountingRecord(killed), /assumedly after job:/, 'a kill keeps SGE\'s record byte for byte');
});

t.test('qacct totals and per-owner table match SGE byte for byte', async (t) => {
  const records = [record({ startTime: at('07:00:00'), endTime: at('07:01:01'), usage: { utimeSeconds: 0.211, stimeSeconds: 0.056, cpuSeconds: 0.267 } })];
  t.equal(formatTotalUsage(records), sgeOutput('qacct'));
  t.equal(formatOwnerUsage(records), sgeOutput('qacct -o root'));
  t.equal(formatOwnerUsage(records, 'root'), sgeOutput('qacct -o root'));
});

t.test('qstat -xml matches SGE byte for byte', async (t) => {
  const fixture = readFileSync(new URL('./fixtures/sge-qstat-xml.txt', import.meta.url), 'utf8');
  const rows = [
    { ...row(58, 's1', 'r', '10:28:55', 'all.q@vm') },
    { ...row(59, 's2', 'r', '10:28:55', 'all.q@vm') },
    { ...row(60, 'arr', 'qw', '10:28:55', '', '1-4:1') },
    { ...row(61, 'held', 'hqw', '10:28:55', ''), prior: 0 },
  ];
  t.equal(formatQstatXml(rows), fixture);
  t.match(formatQstatXml([{ ...rows[0]!, name: 'a<b>&c' }]), /<JB_name>a&lt;b&gt;&amp;c<\/JB_name>/, 'names are escaped');
  t.equal(formatQstatXml([]), "<?xml version='1.0'?>\n<job_info  xmlns:xsd=\"http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd\">\n  <queue_info>\n  </queue_info>\n  <job_info>\n  </job_info>\n</job_info>\n", 'an empty queue still prints the document');
});
