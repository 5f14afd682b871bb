import type { QstatRow } from '../../protocol/api.js';

const two = (n: number): string => String(n).padStart(2, '0');

/** `2026-11-23T10:28:55`: local time, no zone, as SGE's qstat -xml prints it. */
function isoLocal(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function jobList(row: QstatRow, running: boolean): string {
  const lines = [
    `    <job_list state="${running ? 'running' : 'pending'}">`,
    `      <JB_job_number>${row.jobId}</JB_job_number>`,
    `      <JAT_prio>${row.prior.toFixed(5)}</JAT_prio>`,
    `      <JB_name>${escapeXml(row.name)}</JB_name>`,
    `      <JB_owner>${escapeXml(row.owner)}</JB_owner>`,
    `      <state>${row.state}</state>`,
    running ? `      <JAT_start_time>${isoLocal(row.time)}</JAT_start_time>` : `      <JB_submission_time>${isoLocal(row.time)}</JB_submission_time>`,
    `      <queue_name>${escapeXml(row.queue)}</queue_name>`,
    `      <slots>${row.slots}</slots>`,
  ];
  if (row.tasks !== '') lines.push(`      <tasks>${row.tasks}</tasks>`);
  lines.push('    </job_list>');
  return lines.join('\n');
}

/**
 * `qstat -xml`: SGE's document (running tasks under queue_info, the rest under job_info),
 * element for element as Son of Grid Engine 8.1.9 prints it.
 */
export function formatQstatXml(rows: readonly QstatRow[]): string {
  const running = rows.filter((row) => row.queue !== '');
  const waiting = rows.filter((row) => row.queue === '');
  return [
    "<?xml version='1.0'?>",
    '<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">',
    '  <queue_info>',
    ...running.map((row) => jobList(row, true)),
    '  </queue_info>',
    '  <job_info>',
    ...waiting.map((row) => jobList(row, false)),
    '  </job_info>',
    '</job_info>',
    '',
  ].join('\n');
}
