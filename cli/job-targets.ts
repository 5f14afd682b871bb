import type { JobTarget } from '../protocol/api.js';
import { parseTaskRange } from '../protocol/task-ranges.js';
import { BadOptionValueError, CliError } from './cli-errors.js';

/**
 * SGE's job_task_list as qdel/qhold/qrls/qalter take it: words and comma lists of `ID`,
 * `ID.TASK`, `ID.FIRST-LAST[:STEP]` or a job name; `-t RANGE` applies to the targets that name
 * no tasks of their own.
 */
export function parseJobTargets(verb: string, words: readonly string[], taskRange?: string): JobTarget[] {
  let range: JobTarget['tasks'];
  if (taskRange !== undefined) {
    const parsed = parseTaskRange(taskRange);
    if (!parsed) throw new BadOptionValueError(verb, '-t', taskRange, `${verb}: invalid option argument "-t ${taskRange}"`, 'write -t first-last[:step]');
    range = parsed;
  }
  const targets: JobTarget[] = [];
  for (const item of words.flatMap((w) => w.split(',')).filter((w) => w !== '')) {
    const m = /^(\d+)\.(.+)$/.exec(item);
    if (m) {
      const tasks = parseTaskRange(m[2]!);
      if (!tasks) throw new CliError(`${verb}: invalid job task "${item}"`, 1, 'write JOB.TASK or JOB.FIRST-LAST[:STEP], e.g. 9.2 or 9.1-4:1');
      targets.push({ job: m[1]!, tasks });
    } else {
      targets.push(range ? { job: item, tasks: range } : { job: item });
    }
  }
  return targets;
}
