import t from 'tap';
import type { JobWaitResponse } from '../../protocol/api.js';
import { syncReport } from '../../cli/sync-wait.js';
import { readSgeTranscript } from './sge-transcript.js';

/**
 * Every `qsub -sync y` probe of real SGE: rebuild the job's outcome from SGE's own lines, let
 * qfarm report it, and compare stream by stream and the exit status.
 */
t.test('qsub -sync y prints each line on the stream SGE uses and exits as SGE does', async (t) => {
  const probes = readSgeTranscript('qsub-sync.txt').filter((p) => p.command.startsWith('qsub -sync y'));
  t.ok(probes.length >= 5, 'the transcript has the probes');
  for (const probe of probes) {
    const [ack, ...stdoutRest] = probe.stdout;
    const isArray = ack!.startsWith('Your job-array');
    const jobId = Number(/(\d+)/.exec(ack!)![1]);
    const tasks: JobWaitResponse['tasks'] = [];
    for (const line of [...stdoutRest, ...probe.stderr]) {
      const m = /^Job \d+(?:\.(\d+))? exited (?:with exit code (\d+)\.|because of signal SIG(\w+))$/.exec(line);
      t.ok(m, `a task line: ${line}`);
      if (!m) continue;
      const exitStatus = m[2] !== undefined ? Number(m[2]) : m[3] === 'KILL' ? 137 : 143;
      tasks.push({ taskId: m[1] === undefined ? null : Number(m[1]), exitStatus, failedCode: 0, deleted: false });
    }
    tasks.sort((a, b) => (a.taskId ?? 0) - (b.taskId ?? 0));
    const report = syncReport({ jobId, finished: true, tasks }, isArray);
    t.same(
      report.lines.filter((l) => l.stream === 'stdout').map((l) => l.text),
      stdoutRest,
      `${probe.command}: stdout`,
    );
    t.same(
      report.lines.filter((l) => l.stream === 'stderr').map((l) => l.text),
      probe.stderr,
      `${probe.command}: stderr`,
    );
    t.equal(report.exitCode, probe.exit, `${probe.command}: exit status`);
  }
});

t.test('a task that never ran: SGE\'s "Unable to run job" line, then the reason, exit 1', async (t) => {
  const reason = 'input file:///root/private/ could not be staged to /home/u/x: copying as user u failed: cp: cannot stat \'/root/private/.\': Permission denied';
  const report = syncReport({ jobId: 7, finished: true, tasks: [{ taskId: null, exitStatus: 0, failedCode: 1, failedReason: reason, deleted: false }] }, false);
  t.same(report.lines, [
    { stream: 'stderr', text: 'Unable to run job 7' },
    { stream: 'stderr', text: `Job 7 failed before it ran: ${reason}` },
  ]);
  t.equal(report.exitCode, 1);
});

t.test('qsub -sync y says why a task failed after it ran instead of "exited with exit code 0"', async (t) => {
  const afterwards = syncReport(
    { jobId: 8, finished: true, tasks: [{ taskId: 2, exitStatus: 0, failedCode: 100, failedReason: 'the task ran (exit 0) but uploading $OUTDIR to oss://b/o/ failed: AccessDenied', deleted: false }] },
    true,
  );
  t.same(afterwards.lines, [{ stream: 'stderr', text: 'Job 8.2 exited with exit code 0 but failed: the task ran (exit 0) but uploading $OUTDIR to oss://b/o/ failed: AccessDenied' }]);
  t.equal(afterwards.exitCode, 1);
  const noReason = syncReport({ jobId: 9, finished: true, tasks: [{ taskId: null, exitStatus: 0, failedCode: 100, deleted: false }] }, false);
  t.same(noReason.lines, [{ stream: 'stderr', text: 'Job 9 exited with exit code 0 but failed (failed 100; see qacct -j 9)' }]);
});
