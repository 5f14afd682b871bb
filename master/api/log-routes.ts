import * as fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { LogHeaders } from '../../protocol/log-headers.js';
import { attemptReader } from '../store/attempt-reader.js';
import { taskReader } from '../store/task-reader.js';
import { AttemptState } from '../states.js';
import type { ApiContext } from './context.js';
import { answering, RequestRefusedError } from './errors.js';
import { identityOf } from './identity.js';
import { noOutputError } from './missing-output.js';

/** A failed reason longer than this is cut in the header (agents' reasons are short; the store is not). */
const MAX_REASON_CHARS = 2000;

/**
 * `qfarm logs JOB[.TASK] [-f]`: the latest attempt's output as plain text; with follow=1 the
 * response stays open and streams new output until the attempt ends.
 */
export function registerLogRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/logs/:job/:task', answering((req, reply) => {
    const { job, task } = req.params as { job: string; task: string };
    const query = req.query as { stream?: string; follow?: string };
    const stream = query.stream === 'stderr' ? 'stderr' : 'stdout';
    const jobId = Number(job);
    const taskId = Number(task);
    if (!Number.isInteger(jobId) || !Number.isInteger(taskId)) throw new RequestRefusedError(400, `bad task reference ${job}.${task}`);
    const jobRow = ctx.reader.job(jobId);
    const owner = jobRow?.owner;
    if (jobRow === undefined || owner === undefined) throw new RequestRefusedError(404, `job ${jobId} does not exist`);
    const who = identityOf(req);
    // A task's output is its owner's data (SGE writes it to files only the owner reads).
    if (owner !== who.user && !who.mayActOnAll) throw new RequestRefusedError(403, `${who.user} may not read the output of job ${jobId}: it belongs to ${owner}`, 'only the owner, root and managers read a job\'s output');
    const attempt = attemptReader(ctx.db).latestOf(jobId, taskId);
    if (!attempt) throw noOutputError(ctx.reader, jobRow, taskId, taskReader(ctx.db).state(jobId, taskId));
    const file = ctx.logs.file(jobId, taskId, attempt.id, stream);
    // Read what exists and subscribe in the same tick: appends and their events happen
    // together on the event loop, so no chunk falls between the two.
    const existing = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
    const active = attempt.state === AttemptState.Leased || attempt.state === AttemptState.Running;
    // qacct keeps SGE's `failed N : text`; the reason in words travels beside the output.
    if (attempt.state === AttemptState.Done && attempt.failed_code && attempt.failed_reason) {
      const attempts = taskReader(ctx.db).attemptCount(jobId, taskId);
      reply.header(LogHeaders.failedReason, encodeURIComponent(attempt.failed_reason.slice(0, MAX_REASON_CHARS)));
      reply.header(LogHeaders.attempts, String(attempts));
    }
    if (query.follow !== '1' || !active) return reply.type('text/plain; charset=utf-8').send(existing);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
    res.write(existing);
    const onOutput = (attemptId: string, s: string, data: Buffer): void => {
      if (attemptId === attempt.id && s === stream) res.write(data);
    };
    const onEnded = (attemptId: string): void => {
      // The task's last chunks are appended when the turn that ended it commits: end after them.
      if (attemptId === attempt.id) ctx.tick.afterCommit(finish);
    };
    const finish = (): void => {
      ctx.events.off('attempt:output', onOutput);
      ctx.events.off('attempt:ended', onEnded);
      res.end();
    };
    ctx.events.on('attempt:output', onOutput);
    ctx.events.on('attempt:ended', onEnded);
    req.raw.on('close', finish);
    return reply;
  }));
}
