// SGE's transcripts were recorded on a UTC machine; its local times are UTC.
process.env.TZ = 'UTC';

import t from 'tap';
import type { JobDetail, QstatRow } from '../../protocol/api.js';
import type { TaskUsage } from '../../protocol/agent-messages.js';
import { formatQstat } from '../../cli/format/qstat-table.js';
import { formatQstatExt } from '../../cli/format/qstat-ext.js';
import { formatRequests } from '../../cli/format/qstat-requests.js';
import { formatJobDetail } from '../../cli/format/qstat-job.js';
import { sgeProbe } from './sge-transcript.js';

const FILE = 'qstat.txt';
const at = (hms: string): number => {
  const [h, m, s] = hms.split(':').map(Number) as [number, number, number];
  return Date.UTC(2026, 10, 23, h, m, s);
};
const GB = 1024 ** 3;
const text = (lines: string[]): string => (lines.length === 0 ? '' : `${lines.join('\n')}\n`);

// The queue of the recording: two sleeps running, an array waiting, a held job with requests,
// and an array job held by -hold_jid 144 and -hold_jid_ad 149.
const row = (jobId: number, prior: number, name: string, state: QstatRow['state'], time: string, queue: string, tasks = ''): QstatRow => ({
  jobId, prior, name, owner: 'root', state, time: at(time), queue, slots: 1, tasks,
});
const rows: QstatRow[] = [
  row(144, 0.75, 'sleep', 'r', '10:48:37', 'all.q@vm'),
  row(145, 0.75, 'sleep', 'r', '10:48:37', 'all.q@vm'),
  row(149, 0.25, 'arr', 'qw', '10:48:40', '', '1-3:1'),
  row(148, 0, 'held', 'hqw', '10:48:40', ''),
  row(150, 0, 'adj', 'hqw', '10:48:41', '', '1-3:1'),
];
const usage145: TaskUsage = { cpuSeconds: 0, utimeSeconds: 0, stimeSeconds: 0, rssBytes: 0, maxRssBytes: 0, vmemBytes: 0, maxVmemBytes: 0, ioBytes: 0.00004 * GB };
const usageOf = (r: QstatRow): TaskUsage | null => (r.jobId === 145 ? usage145 : null);

function job(jobId: number, name: string, over: Partial<JobDetail> = {}): JobDetail {
  return {
    jobId, name, submitter: { user: 'root', uid: 0, gid: 0, group: 'root', home: '/root' }, submitHost: 'vm', submitTime: at('10:48:40'),
    command: { kind: 'binary', argv: ['true'] }, shell: '/bin/sh', cwd: '/root', submitCwd: '/tmp/sgeprobe', stdoutPath: null, stderrPath: null,
    joinOutput: false, env: {}, array: null, hold: false, waitingFor: [], holdJobs: [], priority: 0, queue: null, slots: 1,
    resources: { other: {} }, pty: false, deleted: false, tasks: [], schedulingInfo: [], ...over,
  };
}
const details = new Map<number, JobDetail>([
  [144, job(144, 'sleep')],
  [145, job(145, 'sleep')],
  [149, job(149, 'arr')],
  [148, job(148, 'held', { resources: { wallclockSeconds: 100, vmemBytes: GB, other: {} }, queue: 'all.q' })],
  [150, job(150, 'adj', { holdJobsRequested: ['144'], holdJobs: [144], waitingFor: [144], holdJobsArray: [149] })],
]);

function withRequests(table: string): string {
  const lines = table.split('\n');
  let out = `${lines[0]}\n${lines[1]}\n`;
  rows.forEach((r, i) => (out += `${lines[i + 2]}\n${formatRequests(r, details.get(r.jobId))}`));
  return out;
}

t.test('qstat -ext, -r and -r -ext print what SGE 8.1.9 prints for the same queue', async (t) => {
  t.equal(formatQstatExt(rows, usageOf), text(sgeProbe(FILE, 'qstat -ext').stdout), 'qstat -ext');
  t.equal(withRequests(formatQstat(rows)), text(sgeProbe(FILE, 'qstat -r').stdout), 'qstat -r');
  t.equal(withRequests(formatQstatExt(rows, usageOf)), text(sgeProbe(FILE, 'qstat -r -ext').stdout), 'qstat -r -ext');
});

t.test('qstat -j prints -a, -notify, -r and both kinds of predecessors where SGE does', async (t) => {
  const sge = sgeProbe(FILE, 'qstat -j 153').stdout;
  const ours = formatJobDetail(
    job(153, 'true', {
      submitTime: at('10:49:25'),
      startAfter: Date.UTC(2026, 11, 31, 23, 59, 0),
      notify: true,
      rerun: false,
      hold: true,
      array: { first: 1, last: 2, step: 1 },
      resources: { wallclockSeconds: 60, other: {} },
      holdJobsRequested: ['152'],
      holdJobs: [152],
      waitingFor: [152],
      holdJobsArray: [152],
      env: { TERM: 'NONE' },
      schedulingInfo: ['Job is in hold state'],
    }),
  ).split('\n');
  const labels = (lines: string[]): string[] => lines.map((l) => l.split(':')[0]!).filter((l) => l !== '' && !l.startsWith('='));
  const shared = labels(sge).filter((l) => labels(ours).includes(l));
  t.same(labels(ours).filter((l) => shared.includes(l)), shared, 'the fields come in SGE\'s order');
  for (const name of ['execution_time', 'notify', 'restart', 'jid_predecessor_list (req)', 'jid_predecessor_list', 'ja_ad_predecessor_list', 'job-array tasks', 'hard resource_list', 'scheduling info']) {
    t.equal(ours.find((l) => l.startsWith(`${name}:`)), sge.find((l) => l.startsWith(`${name}:`)), name);
  }
  const pred = formatJobDetail(job(152, 'pred', { successors: [153], arraySuccessors: [153], array: { first: 1, last: 2, step: 1 } })).split('\n');
  const sgePred = sgeProbe(FILE, 'qstat -j 152').stdout;
  for (const name of ['jid_successor_list', 'ja_ad_successor_list']) t.equal(pred.find((l) => l.startsWith(`${name}:`)), sgePred.find((l) => l.startsWith(`${name}:`)), name);
});
