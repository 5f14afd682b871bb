import type { JobDetail, QstatRow } from '../../protocol/api.js';
import { resourceList } from './qstat-job.js';

const INDENT = ' '.repeat(7);
/** Values start in column 26, after `       Hard Resources:   `. */
const VALUE_INDENT = ' '.repeat(25);

/**
 * The block `qstat -r` prints under each job line (SGE 8.1.9's layout, test/fixtures/sge/qstat.txt):
 * full name, master queue of a running task, hard and soft resource requests (each with its
 * urgency contribution, 0 in qfarm), requested queues, predecessors, binding.
 */
export function formatRequests(row: QstatRow, job: JobDetail | undefined): string {
  let text = `${INDENT}Full jobname:     ${job?.name ?? row.name}\n`;
  if (row.queue !== '') text += `${INDENT}Master Queue:     ${row.queue}\n`;
  const resources = job ? resourceList(job.resources).split(',').filter((r) => r !== '') : [];
  text += `${INDENT}Hard Resources:   ${resources.map((r, i) => `${i === 0 ? '' : VALUE_INDENT}${r} (0.000000)`).join('\n')}\n`;
  text += `${INDENT}Soft Resources:   \n`;
  if (job?.queue) text += `${INDENT}Hard requested queues: ${job.queue}\n`;
  const requested = job?.holdJobsRequested ?? job?.holdJobs.map(String) ?? [];
  if (requested.length > 0) {
    text += `${INDENT}Predecessor Jobs (request): ${requested.join(', ')}\n`;
    text += `${INDENT}Predecessor Jobs: ${job!.holdJobs.join(', ')}\n`;
  }
  const arrayPreds = job?.holdJobsArray ?? [];
  if (arrayPreds.length > 0) {
    text += `${INDENT}Predecessor Array Jobs (request): ${arrayPreds.join(', ')}\n`;
    text += `${INDENT}Predecessor Array Jobs: ${arrayPreds.join(', ')}\n`;
  }
  text += `${INDENT}Binding:          NONE\n`;
  return text;
}
