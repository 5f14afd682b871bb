import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestFarm } from '../helpers/farm.js';
import { processRunning } from '../helpers/processes.js';

/**
 * Agent behaviour against the real master (issue 15; the fast versions against the fake master
 * stay in test/agent/): the h_vmem kill as qsub asks for it and qacct reports it, and the bounded
 * outbox while the master is unreachable — the agent keeps the newest output up to its bound and
 * always the result, and the result arrives once the master is back.
 */

interface AccountingRecord {
  exitStatus: number;
  failedCode: number;
  failedReason: string;
  signal: string | null;
  attempts: number;
  usage: { maxVmemBytes: number };
}

async function accounting(farm: TestFarm, jobId: number): Promise<AccountingRecord[]> {
  return ((await farm.api('GET', `/accounting?job=${jobId}`)) as { records: AccountingRecord[] }).records;
}

function field(qacct: string, name: string): string | undefined {
  return qacct.split('\n').find((l) => l.startsWith(`${name} `))?.slice(name.length).trim();
}

t.test('qsub -l h_vmem: the agent kills a task over its limit; qacct reports it as SGE does', async (t) => {
  const farm = await TestFarm.start(t, { agents: 1 });
  const started = Date.now();
  // 1 MiB per slot: any shell exceeds it at once; the sleep would otherwise run for a minute.
  const jobId = await farm.submit(['-q', 'default', '-cwd', '-l', 'h_vmem=1M', '-b', 'y', 'sleep', '60']);
  await farm.waitForJob(jobId, 30_000);
  t.ok(Date.now() - started < 30_000, 'killed long before the sleep would end');

  const [record] = await accounting(farm, jobId);
  t.match(record, { exitStatus: 137, failedCode: 37, signal: 'SIGKILL', attempts: 1 }, 'killed with SIGKILL, failed 37, not rerun');
  t.match(record!.failedReason, /^h_vmem limit of 1048576 bytes exceeded/);
  t.ok(record!.usage.maxVmemBytes > 1024 * 1024, `the sampled peak (${record!.usage.maxVmemBytes} bytes) is over the limit`);
  const qacct = await farm.run('qacct', ['-j', String(jobId)]);
  t.equal(field(qacct.stdout, 'failed'), '37  : qmaster enforced h_rt, h_cpu, or h_vmem limit', "SGE 8.1.9's failed line");
  t.equal(field(qacct.stdout, 'exit_status'), '137                  (Killed)');
  const logs = await farm.run('qfarm', ['logs', String(jobId)]);
  t.match(logs.stderr, new RegExp(`task ${jobId}\\.1 failed after 1 attempt: h_vmem limit of 1048576 bytes exceeded`), 'qfarm logs says which limit');
});

t.test('a master unreachable while a task floods its output: the agent keeps the newest output and the result, which arrives', async (t) => {
  const BUFFER = 1024 * 1024;
  const farm = await TestFarm.start(t, { leaseGraceMs: 60_000 });
  await farm.startAgent('node1', { args: ['--output-buffer-bytes', String(BUFFER)] });
  const gate = path.join(farm.work, 'flood-gate');
  const outFile = path.join(farm.work, 'flood.out');
  t.teardown(() => fs.writeFileSync(gate, ''));
  // About 14.9 MB of numbered lines (1..2000000), far more than the 1 MiB the agent may keep.
  const jobId = await farm.submit(['-q', 'default', '-cwd', '-o', outFile, '-b', 'y', 'sh', '-c', `echo first; while [ ! -e ${gate} ]; do sleep 0.05; done; seq 1 2000000; echo the-end; exit 3`]);
  await farm.waitFor(async () => (await farm.run('qfarm', ['logs', String(jobId)])).stdout === 'first\n', 20_000, 'the first line to reach the master');

  await farm.stopProcess(farm.master, 'SIGKILL');
  fs.writeFileSync(gate, '');
  await farm.waitFor(() => !processRunning(gate), 30_000, 'the task to end while the master is down');
  let expected = 'first\n';
  for (let i = 1; i <= 2_000_000; i++) expected += `${i}\n`;
  expected += 'the-end\n';
  t.equal(fs.readFileSync(outFile, 'utf8'), expected, 'the -o file has every byte');
  await farm.startMaster(Number(new URL(farm.url).port));
  await farm.waitForJob(jobId, 30_000);

  const records = await accounting(farm, jobId);
  t.match(records, [{ exitStatus: 3, failedCode: 0, attempts: 1 }], 'the result arrived once, with exit status 3');
  const logs = (await farm.run('qfarm', ['logs', String(jobId)])).stdout;
  t.ok(logs.startsWith('first\n'), 'what the master had before it went down stays');
  t.ok(logs.endsWith('1999999\n2000000\nthe-end\n'), 'the newest output arrived, up to the last line');
  const kept = logs.slice('first\n'.length);
  t.ok(kept.length <= BUFFER + 64 * 1024, `the agent kept ${kept.length} bytes: its bound (${BUFFER}) and at most one chunk more`);
  t.ok(kept.length >= BUFFER / 2, `and not much less (${kept.length} bytes)`);
  t.ok(expected.endsWith(kept), 'the kept output is one unbroken tail of what the task printed: oldest dropped, nothing reordered');
  t.match(fs.readFileSync(path.join(farm.home, 'agent-node1.log'), 'utf8'), /dropping its oldest output/, 'the agent said it dropped output');
});
