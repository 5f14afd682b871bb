import type { JobSubmission } from '../protocol/job-spec.js';
import { buildAssignment, taskPart } from './assignment.js';
import type { JobListRow } from './store/job-reader.js';
import type { Lease } from './store/transitions.js';

/** A job's assignment as JSON, without what differs per task: the env's head and the other fields. */
interface Template {
  /** `{"K":"V",…,` : the env without SGE_TASK_ID, open for it. */
  envHead: string;
  /** `"jobId":…}` : every other field but the task's own, closed. */
  tail: string;
}

/**
 * The assignments sent to agents, as JSON text made from a template per job and group: the
 * environment (kilobytes with `qsub -V`) and the job's fields are serialized once, a task adds
 * its attempt, task id, $SGE_TASK_ID and output paths. Building and serializing the whole
 * assignment per task was the master's largest allocation (~2 KB a task of the ~20 KB, sampling
 * heap profile of bench:agents). The text parses to what buildAssignment makes (a test checks it
 * over the options that change it). Templates live as long as the parsed submission they were
 * made from (JobSpecs drops it when the job finishes or is altered).
 */
export class AssignmentTexts {
  private readonly templates = new WeakMap<JobSubmission, Map<string, Template>>();

  text(job: JobListRow, spec: JobSubmission, lease: Lease, group: string): string {
    const task = taskPart(job, spec, lease);
    const { envHead, tail } = this.templateOf(job, spec, lease, group);
    return (
      `{"type":"assign","attemptId":${JSON.stringify(task.attemptId)},"taskId":${JSON.stringify(task.taskId)},` +
      `"stdoutPath":${JSON.stringify(task.stdoutPath)},"stderrPath":${JSON.stringify(task.stderrPath)},` +
      `"env":${envHead}"SGE_TASK_ID":${JSON.stringify(task.sgeTaskId)}},${tail}`
    );
  }

  private templateOf(job: JobListRow, spec: JobSubmission, lease: Lease, group: string): Template {
    let byGroup = this.templates.get(spec);
    if (!byGroup) {
      byGroup = new Map();
      this.templates.set(spec, byGroup);
    }
    let template = byGroup.get(group);
    if (!template) {
      // Whatever task this is, the fields left after taking the task's own are the job's.
      const { type: _type, attemptId: _attempt, taskId: _task, stdoutPath: _out, stderrPath: _err, env, ...rest } = buildAssignment(job, spec, lease, group);
      const { SGE_TASK_ID: _sgeTaskId, ...jobEnv } = env;
      const envJson = JSON.stringify(jobEnv);
      template = {
        envHead: envJson === '{}' ? '{' : `${envJson.slice(0, -1)},`,
        tail: JSON.stringify(rest).slice(1),
      };
      byGroup.set(group, template);
    }
    return template;
  }
}
