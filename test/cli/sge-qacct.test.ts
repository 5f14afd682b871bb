// SGE's transcripts were recorded on a UTC machine; its local times are UTC.
process.env.TZ = 'UTC';

import t from 'tap';
import type { AccountingRecord } from '../../protocol/api.js';
import { formatAccountingRecord } from '../../cli/format/qacct-job.js';
import { readSgeTranscript } from './sge-transcript.js';

const FIELDS = ['start_time', 'end_time', 'failed', 'exit_status', 'ru_wallclock', 'cpu', 'maxvmem'];
const field = (lines: readonly string[], name: string): string => lines.find((l) => l.split(/\s+/)[0] === name) ?? `(no ${name})`;
const bytes = (text: string): number => {
  const m = /^([\d.]+)(B|KB|MB|GB)$/.exec(text)!;
  return Number(m[1]) * { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[m[2] as 'B'];
};

/**
 * The four endings real SGE accounted in test/fixtures/sge/qacct.txt (h_rt kill, success, exit 3,
 * qdel of a running job): the same outcome, as qfarm's master records it, prints the same
 * `failed exit_status ru_wallclock cpu maxvmem start_time end_time` lines.
 */
t.test('qacct -j prints the fields engines read exactly as SGE does for each way a job ends', async (t) => {
  const probes = readSgeTranscript('qacct.txt').filter((p) => p.command.startsWith('qacct -j'));
  t.equal(probes.length, 4);
  const outcome = [
    { failedCode: 37, failedReason: 'h_rt limit of 2s exceeded', signal: 'SIGKILL' },
    { failedCode: 0, failedReason: '', signal: null },
    { failedCode: 0, failedReason: '', signal: null },
    { failedCode: 100, failedReason: 'deleted by root', signal: 'SIGKILL' },
  ];
  probes.forEach((probe, i) => {
    const sge = probe.stdout;
    const value = (name: string): string => field(sge, name).slice(13).trim();
    const record: AccountingRecord = {
      qname: 'all.q',
      hostname: 'vm',
      group: 'root',
      owner: 'root',
      jobname: value('jobname'),
      jobnumber: Number(value('jobnumber')),
      taskid: null,
      priority: 0,
      qsubTime: Date.parse(`${value('qsub_time')} UTC`),
      startTime: Date.parse(`${value('start_time')} UTC`),
      endTime: Date.parse(`${value('end_time')} UTC`),
      slots: 1,
      ...outcome[i]!,
      exitStatus: Number(value('exit_status').split(/\s+/)[0]),
      attempts: 1,
      usage: {
        cpuSeconds: Number(value('cpu').replace('s', '')),
        utimeSeconds: 0,
        stimeSeconds: 0,
        rssBytes: 0,
        maxRssBytes: 0,
        vmemBytes: 0,
        maxVmemBytes: bytes(value('maxvmem')),
        ioBytes: 0,
      },
    };
    const ours = formatAccountingRecord(record).split('\n');
    for (const name of FIELDS) t.equal(field(ours, name), field(sge, name), `${probe.notes.join(' ')}: ${name}`);
  });
});
