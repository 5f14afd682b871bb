import type { FastifyInstance } from 'fastify';
import { validators, type ActionResponse, type JobTarget, type JobWaitResponse } from '../../protocol/api.js';
import type { ApiContext } from './context.js';
import { checkQueueList } from './queue-check.js';
import { answering, RequestRefusedError } from './errors.js';
import { RequestLimits } from './request-bounds.js';
import { TaskRangeTooLargeError } from '../store/undispatched-delete.js';
import { qstatRows } from '../views/qstat-rows.js';
import { jobDetail } from '../views/job-detail.js';
import type { JobRow } from '../store/job-reader.js';
import { JobNotFoundError } from '../store/transitions.js';
import { alterReply, clearErrorReplies, deleteReplies, holdReply } from './sge-replies.js';
import { PermissionError } from '../store/ownership.js';
import { clearErrorState } from '../store/error-state.js';
import { taskReader } from '../store/task-reader.js';
import { TaskState } from '../states.js';
import type { JobSubmission } from '../../protocol/job-spec.js';
import { identityOf, type Identity } from './identity.js';

/** Jobs: submit, list, detail, wait, delete, hold, release, alter. */
export function registerJobRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.post('/jobs', { bodyLimit: RequestLimits.submissionBodyBytes }, answering((req) => {
    refuseIdentityFields(req.body, ['submitter']);
    const who = identityOf(req);
    // `interactive` is the master's to set (qrsh/qlogin on the interactive WebSocket), never a client's.
    const { interactive: _notAClientField, ...request } = validators.jobSubmitRequest.parse(req.body) as ReturnType<typeof validators.jobSubmitRequest.parse> & { interactive?: unknown };
    const sub: JobSubmission = { ...request, submitter: submitterOf(who) };
    if (sub.array && sub.array.last < sub.array.first) throw new RequestRefusedError(400, `invalid task range ${sub.array.first}-${sub.array.last}`);
    checkQueueList(ctx.db, sub.queue);
    const { jobId } = ctx.transitions.submitJob(sub);
    return { jobId, name: sub.name, ...(sub.array ? { array: sub.array } : {}) };
  }));

  app.get('/jobs', answering((req) => {
    const query = req.query as { user?: string; finished?: string };
    return { rows: qstatRows(ctx.db, ctx.reader, { user: query.user, includeFinished: query.finished === '1' }) };
  }));

  app.get('/jobs/:ids', answering((req) => {
    const refs = (req.params as { ids: string }).ids.split(',').filter(Boolean);
    const jobs = [];
    const missing: string[] = [];
    for (const ref of refs) {
      const found = resolveJobs(ctx, ref, { includeFinished: true });
      if (found.length === 0) missing.push(ref);
      for (const job of found) jobs.push(jobDetail(ctx.db, ctx.reader, ctx.hub, job));
    }
    return { jobs, missing };
  }));

  // qsub -sync y: answers when the job finished, or after `timeout` seconds with finished=false
  // so that clients re-ask (no proxy or idle timeout cuts a long wait).
  app.get('/jobs/:id/wait', answering(async (req) => {
    const jobId = Number((req.params as { id: string }).id);
    const timeoutMs = Math.min(Number((req.query as { timeout?: string }).timeout ?? 25), 60) * 1000;
    if (!ctx.reader.job(jobId)) throw new JobNotFoundError(String(jobId));
    if (!ctx.reader.job(jobId)!.finished) {
      await new Promise<void>((resolve) => {
        const onFinished = (id: number): void => {
          if (id !== jobId) return;
          cleanup();
        };
        const timer = setTimeout(() => cleanup(), timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          ctx.events.off('job:finished', onFinished);
          resolve();
        };
        ctx.events.on('job:finished', onFinished);
        req.raw.on('close', cleanup);
      });
    }
    return waitResponse(ctx, jobId);
  }));

  app.post('/jobs/delete', answering((req) => {
    refuseIdentityFields(req.body, ['requester']);
    const who = identityOf(req);
    const body = validators.deleteRequest.parse(req.body);
    const messages: ActionResponse['messages'] = [];
    const targets: JobTarget[] = [...body.targets];
    for (const user of body.users) {
      const ids = ctx.reader.unfinishedIdsOf(user);
      for (const id of ids) targets.push({ job: String(id) });
    }
    for (const target of targets) {
      const jobs = resolveJobs(ctx, target.job, { includeFinished: false });
      if (jobs.length === 0) {
        messages.push({ ok: false, text: `denied: job "${target.job}" does not exist` });
        continue;
      }
      for (const job of jobs) {
        try {
          const outcome = ctx.transitions.deleteJob(job.id, who, target.tasks, ctx.hub.connectedAgentIds());
          for (const kill of outcome.kill) ctx.hub.sendKill(kill.agentId, kill.attemptId, `deleted by ${who.user} (qdel)`);
          messages.push(...deleteReplies(outcome, who.user));
        } catch (err) {
          if (err instanceof PermissionError) messages.push({ ok: false, text: err.message, denied: 'permission' });
          else if (err instanceof TaskRangeTooLargeError) messages.push({ ok: false, text: err.message });
          else throw err;
        }
      }
    }
    return { messages };
  }));

  for (const [route, hold] of [['/jobs/hold', true], ['/jobs/release', false]] as const) {
    app.post(route, answering((req) => {
      refuseIdentityFields(req.body, ['requester']);
      const who = identityOf(req);
      const body = validators.holdRequest.parse(req.body);
      return { messages: forEachTarget(ctx, body.targets, (job) => holdReply(ctx.transitions.setUserHold(job.id, who, hold))) };
    }));
  }

  // qmod -cj: SGE's answers for a job not in error state (qfarm has none), owners only.
  app.post('/jobs/clear-error', answering((req) => {
    refuseIdentityFields(req.body, ['requester']);
    const who = identityOf(req);
    const body = validators.holdRequest.parse(req.body);
    const messages: ActionResponse['messages'] = [];
    for (const target of body.targets) {
      const jobs = resolveJobs(ctx, target.job, { includeFinished: false });
      if (jobs.length === 0) messages.push({ ok: false, text: `invalid queue or job "${target.job}"` });
      for (const job of jobs) {
        try {
          messages.push(...clearErrorReplies(clearErrorState(ctx.db, ctx.reader, job, who)));
        } catch (err) {
          if (err instanceof PermissionError) messages.push({ ok: false, text: err.message, denied: 'permission' });
          else throw err;
        }
      }
    }
    return { messages };
  }));

  app.post('/jobs/alter', answering((req) => {
    refuseIdentityFields(req.body, ['requester']);
    const who = identityOf(req);
    const body = validators.alterRequest.parse(req.body);
    return {
      messages: forEachTarget(ctx, body.targets, (job) => {
        const text = alterReply(ctx.transitions.alterJob(job.id, who, body.changes), who.user);
        ctx.scheduler.forgetSpec(job.id);
        return text;
      }),
    };
  }));
}

/** A job reference is an id, or a name (every job of that name), as SGE's verbs accept. */
function resolveJobs(ctx: ApiContext, ref: string, options: { includeFinished: boolean }): JobRow[] {
  const jobs = /^\d+$/.test(ref) ? [ctx.reader.job(Number(ref))].filter((j): j is JobRow => j !== undefined) : ctx.reader.jobsByName(ref);
  return options.includeFinished ? jobs : jobs.filter((j) => !j.finished);
}

function forEachTarget(ctx: ApiContext, targets: JobTarget[], action: (job: JobRow) => string): ActionResponse['messages'] {
  const messages: ActionResponse['messages'] = [];
  for (const target of targets) {
    const jobs = resolveJobs(ctx, target.job, { includeFinished: false });
    if (jobs.length === 0) messages.push({ ok: false, text: `denied: job "${target.job}" does not exist` });
    for (const job of jobs) {
      try {
        messages.push({ ok: true, text: action(job) });
      } catch (err) {
        if (err instanceof PermissionError) messages.push({ ok: false, text: err.message, denied: 'permission' });
        else throw err;
      }
    }
  }
  return messages;
}

/**
 * Who submits and who asks come from the connection (identity.ts). A body that still names
 * them is refused rather than ignored: an old CLI, or someone trying to be somebody else.
 */
function refuseIdentityFields(body: unknown, fields: readonly string[]): void {
  if (typeof body !== 'object' || body === null) return;
  for (const field of fields) {
    if (Object.hasOwn(body, field)) {
      throw new RequestRefusedError(400, `the request carries "${field}": identity comes from the connection (the API socket's peer or the API token), never from the request`, 'remove the field; an older qfarm CLI sends it: upgrade it');
    }
  }
}

function submitterOf(who: Identity): JobSubmission['submitter'] {
  const { user, uid, gid, group, home } = who.account;
  return { user, uid, gid, group, home };
}

function waitResponse(ctx: ApiContext, jobId: number): JobWaitResponse {
  const job = ctx.reader.job(jobId)!;
  const rows = taskReader(ctx.db).endedTasks(jobId);
  return {
    jobId,
    finished: job.finished === 1,
    tasks: rows.map((r) => ({
      taskId: job.is_array ? r.task_id : null,
      exitStatus: r.exit_status ?? 0,
      failedCode: r.failed_code ?? 0,
      ...(r.failed_code && r.failed_reason ? { failedReason: r.failed_reason } : {}),
      deleted: r.state === TaskState.Deleted,
    })),
  };
}
