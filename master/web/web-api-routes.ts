import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiContext } from '../api/context.js';
import type { JobRow } from '../store/job-reader.js';
import { answering, RequestRefusedError } from '../api/errors.js';
import { identityOf, type Identity } from '../api/identity.js';
import { rerunReply } from '../api/sge-replies.js';
import { attemptReader } from '../store/attempt-reader.js';
import { PermissionError } from '../store/ownership.js';
import { taskReader } from '../store/task-reader.js';
import type { WebDashboard } from './dashboard.js';
import { streamFramesTar } from './frame-download.js';
import { jobListPage, MAX_PAGE } from './job-list.js';
import { taskPage } from './task-page.js';

/** Bounded paging numbers from a query string: a bad value is a 400, not a silent default. */
function pageArgs(query: { offset?: string; limit?: string }): { offset: number; limit: number } {
  const offset = Number(query.offset ?? 0);
  const limit = Number(query.limit ?? 50);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RequestRefusedError(400, `offset must be a whole number >= 0, got "${query.offset}"`);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) throw new RequestRefusedError(400, `limit must be 1-${MAX_PAGE}, got "${query.limit}"`);
  return { offset, limit };
}

const short = (value: string | undefined, what: string): string | undefined => {
  if (value !== undefined && value.length > 200) throw new RequestRefusedError(400, `${what} is longer than 200 characters`);
  return value === '' ? undefined : value;
};

/** May `who` read the output of `owner`'s job (the rule of `qfarm logs`)? */
const mayRead = (who: Identity, owner: string): boolean => owner === who.user || who.mayActOnAll;

/** A 403 unless `who` may read the job's output; `action` says what was refused ("see the frames"). */
function requireReader(who: Identity, jobId: number | string, owner: string, action: string): void {
  if (!mayRead(who, owner)) throw new RequestRefusedError(403, `${who.user} may not ${action} of job ${jobId}: it belongs to ${owner}`, "only the owner, root and managers see a job's output");
}

/**
 * The dashboard's own reads under /api/v1/web (same authentication hook as every API route; a
 * browser is known by its session cookie). Actions are not here: the page calls the API's own
 * job and host routes, so the CLI's ownership rules apply unchanged.
 */
export function registerWebApiRoutes(app: FastifyInstance, ctx: ApiContext, web: WebDashboard): void {
  /** The job the route's `:id` names, or a 404. */
  const existingJob = (req: FastifyRequest): JobRow => {
    const id = (req.params as { id: string }).id;
    const job = ctx.reader.job(Number(id));
    if (!job) throw new RequestRefusedError(404, `job ${id} does not exist`);
    return job;
  };

  app.post('/web/sign-in-link', answering((req) => {
    const who = identityOf(req);
    if (who.via === 'web-session') throw new RequestRefusedError(403, 'a browser session cannot make sign-in links', 'run qfarm web in a terminal');
    const token = web.sessions.createSignInLink(who.account);
    return { url: `${web.publicUrl()}/web/sign-in?token=${token}`, user: who.user, expiresInSeconds: 300 };
  }));

  app.get('/web/session', answering((req) => {
    const who = identityOf(req);
    const session = web.sessions.fromRequest(req);
    return { user: who.user, mayActOnAll: who.mayActOnAll, csrf: who.via === 'web-session' && session ? session.csrf : '' };
  }));

  app.post('/web/sign-out', async (req, reply) => {
    web.sessions.end(req);
    return reply.header('set-cookie', web.clearCookie()).send({ ok: true });
  });

  app.get('/web/jobs', answering((req) => {
    const q = req.query as Record<string, string | undefined>;
    return jobListPage(ctx.db, { user: short(q['user'], 'user'), group: short(q['group'], 'group'), state: short(q['state'], 'state'), search: short(q['search'], 'search'), ...pageArgs(q) });
  }));

  app.get('/web/jobs/:id/tasks', answering((req) => {
    const job = existingJob(req);
    return taskPage(ctx.db, job, ...Object.values(pageArgs(req.query as Record<string, string>)) as [number, number]);
  }));

  // Not a CLI verb: the dashboard's "rerun failed tasks", under the same ownership rule (qmod -cj's).
  app.post('/web/jobs/:id/rerun-failed', answering((req) => {
    const jobId = existingJob(req).id;
    try {
      const who = identityOf(req);
      return { messages: [{ ok: true, text: rerunReply(ctx.transitions.rerunFailedTasks(jobId, who), who.user) }] };
    } catch (err) {
      if (err instanceof PermissionError) return { messages: [{ ok: false, text: err.message, denied: 'permission' }] };
      throw err;
    }
  }));

  app.get('/web/jobs/:id/frames', answering((req) => {
    const job = existingJob(req);
    const { offset, limit } = pageArgs(req.query as Record<string, string>);
    return web.frames.page(job, offset, limit, mayRead(identityOf(req), job.owner));
  }));

  app.get('/web/jobs/:id/frames.tar', answering(async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const job = ctx.reader.job(Number(id));
    const manifest = job ? web.frames.manifestOf(job) : null;
    if (!job || !manifest) throw new RequestRefusedError(404, `job ${id} is not a render job`);
    requireReader(identityOf(req), id, job.owner, 'download the frames');
    const done = taskReader(ctx.db).succeededIds(job.id);
    const raw = reply.raw;
    streamFramesTar(job, manifest, done, raw);
    reply.hijack();
    return reply;
  }));

  app.get('/web/jobs/:id/thumbnails/:task/:frame', answering(async (req, reply) => {
    const { id, task, frame } = req.params as { id: string; task: string; frame: string };
    const job = existingJob(req);
    requireReader(identityOf(req), id, job.owner, 'see the frames');
    const png = web.frames.thumbnail(job, Number(task), Number(frame));
    if (!png) throw new RequestRefusedError(404, `no thumbnail of frame ${frame} (task ${id}.${task})`);
    return reply.type('image/png').header('x-content-type-options', 'nosniff').header('cache-control', 'private, max-age=3600').send(png);
  }));

  app.get('/web/hosts/history', answering(() => {
    const hosts: Record<string, ReturnType<WebDashboard['history']['series']>> = {};
    for (const s of ctx.hub.sessionsList()) hosts[s.hostname] = web.history.series(s.hostname);
    return { hosts };
  }));

  app.get('/web/events', answering(async (req, reply) => {
    const who = identityOf(req);
    const raw = (req.query as { topics?: string }).topics ?? '';
    const topics = raw.split(',').filter((t) => /^(jobs|hosts|groups|job:\d+|log:\d+\.\d+)$/.test(t));
    const logAttempt = logAttemptFor(ctx, who, topics);
    reply.hijack();
    web.streams.open(reply.raw, topics, logAttempt);
    return reply;
  }));
}

/** The attempt whose output a `log:J.T` topic tails, only when the viewer may read that job's output. */
function logAttemptFor(ctx: ApiContext, who: Identity, topics: readonly string[]): string | undefined {
  const log = topics.find((t) => t.startsWith('log:'));
  if (!log) return undefined;
  const [job, task] = log.slice(4).split('.').map(Number) as [number, number];
  const owner = ctx.reader.job(job)?.owner;
  if (owner === undefined) throw new RequestRefusedError(404, `job ${job} does not exist`);
  requireReader(who, job, owner, 'read the output');
  return attemptReader(ctx.db).latestOf(job, task)?.id;
}

export type { FastifyRequest };
