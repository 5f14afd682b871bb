import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiContext } from '../api/context.js';
import { RequestRefusedError, sendError } from '../api/errors.js';
import { identityOf, type Identity } from '../api/identity.js';
import { PermissionError } from '../store/ownership.js';
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

/**
 * The dashboard's own reads under /api/v1/web (same authentication hook as every API route; a
 * browser is known by its session cookie). Actions are not here: the page calls the API's own
 * job and host routes, so the CLI's ownership rules apply unchanged.
 */
export function registerWebApiRoutes(app: FastifyInstance, ctx: ApiContext, web: WebDashboard): void {
  app.post('/web/sign-in-link', async (req, reply) => {
    try {
      const who = identityOf(req);
      if (who.via === 'web-session') throw new RequestRefusedError(403, 'a browser session cannot make sign-in links', 'run qfarm web in a terminal');
      const token = web.sessions.createSignInLink(who.account);
      return { url: `${web.publicUrl()}/web/sign-in?token=${token}`, user: who.user, expiresInSeconds: 300 };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/web/session', async (req, reply) => {
    try {
      const who = identityOf(req);
      const session = web.sessions.fromRequest(req);
      return { user: who.user, mayActOnAll: who.mayActOnAll, csrf: who.via === 'web-session' && session ? session.csrf : '' };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.post('/web/sign-out', async (req, reply) => {
    web.sessions.end(req);
    return reply.header('set-cookie', web.clearCookie()).send({ ok: true });
  });

  app.get('/web/jobs', async (req, reply) => {
    try {
      const q = req.query as Record<string, string | undefined>;
      return jobListPage(ctx.db, { user: short(q['user'], 'user'), group: short(q['group'], 'group'), state: short(q['state'], 'state'), search: short(q['search'], 'search'), ...pageArgs(q) });
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/web/jobs/:id/tasks', async (req, reply) => {
    try {
      const job = ctx.reader.job(Number((req.params as { id: string }).id));
      if (!job) throw new RequestRefusedError(404, `job ${(req.params as { id: string }).id} does not exist`);
      return taskPage(ctx.db, job, ...Object.values(pageArgs(req.query as Record<string, string>)) as [number, number]);
    } catch (err) {
      return sendError(reply, err);
    }
  });

  // Not a CLI verb: the dashboard's "rerun failed tasks", under the same ownership rule (qmod -cj's).
  app.post('/web/jobs/:id/rerun-failed', async (req, reply) => {
    try {
      const jobId = Number((req.params as { id: string }).id);
      if (!ctx.reader.job(jobId)) throw new RequestRefusedError(404, `job ${(req.params as { id: string }).id} does not exist`);
      try {
        return { messages: [{ ok: true, text: ctx.transitions.rerunFailedTasks(jobId, identityOf(req)) }] };
      } catch (err) {
        if (err instanceof PermissionError) return { messages: [{ ok: false, text: err.message, denied: 'permission' }] };
        throw err;
      }
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/web/jobs/:id/frames', async (req, reply) => {
    try {
      const job = ctx.reader.job(Number((req.params as { id: string }).id));
      if (!job) throw new RequestRefusedError(404, `job ${(req.params as { id: string }).id} does not exist`);
      const { offset, limit } = pageArgs(req.query as Record<string, string>);
      return web.frames.page(job, offset, limit, mayRead(identityOf(req), job.owner));
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/web/jobs/:id/frames.tar', async (req, reply) => {
    try {
      const id = (req.params as { id: string }).id;
      const job = ctx.reader.job(Number(id));
      const manifest = job ? web.frames.manifestOf(job) : null;
      if (!job || !manifest) throw new RequestRefusedError(404, `job ${id} is not a render job`);
      const who = identityOf(req);
      if (!mayRead(who, job.owner)) throw new RequestRefusedError(403, `${who.user} may not download the frames of job ${id}: it belongs to ${job.owner}`, "only the owner, root and managers get a job's output");
      const done = ctx.db.prepare(`SELECT task_id FROM tasks WHERE job_id = ? AND state = 'done' AND COALESCE(exit_status, 0) = 0 ORDER BY task_id`).pluck().all(job.id) as number[];
      const raw = reply.raw;
      streamFramesTar(job, manifest, done, raw);
      reply.hijack();
      return reply;
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/web/jobs/:id/thumbnails/:task/:frame', async (req, reply) => {
    try {
      const { id, task, frame } = req.params as { id: string; task: string; frame: string };
      const job = ctx.reader.job(Number(id));
      if (!job) throw new RequestRefusedError(404, `job ${id} does not exist`);
      const who = identityOf(req);
      if (!mayRead(who, job.owner)) throw new RequestRefusedError(403, `${who.user} may not see the frames of job ${id}: it belongs to ${job.owner}`, "only the owner, root and managers see a job's output");
      const png = web.frames.thumbnail(job, Number(task), Number(frame));
      if (!png) throw new RequestRefusedError(404, `no thumbnail of frame ${frame} (task ${id}.${task})`);
      return reply.type('image/png').header('x-content-type-options', 'nosniff').header('cache-control', 'private, max-age=3600').send(png);
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/web/hosts/history', async (_req, reply) => {
    try {
      const hosts: Record<string, ReturnType<WebDashboard['history']['series']>> = {};
      for (const s of ctx.hub.sessionsList()) hosts[s.hostname] = web.history.series(s.hostname);
      return { hosts };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/web/events', async (req, reply) => {
    try {
      const who = identityOf(req);
      const raw = (req.query as { topics?: string }).topics ?? '';
      const topics = raw.split(',').filter((t) => /^(jobs|hosts|groups|job:\d+|log:\d+\.\d+)$/.test(t));
      const logAttempt = logAttemptFor(ctx, who, topics);
      reply.hijack();
      web.streams.open(reply.raw, topics, logAttempt);
      return reply;
    } catch (err) {
      return sendError(reply, err);
    }
  });
}

/** The attempt whose output a `log:J.T` topic tails, only when the viewer may read that job's output. */
function logAttemptFor(ctx: ApiContext, who: Identity, topics: readonly string[]): string | undefined {
  const log = topics.find((t) => t.startsWith('log:'));
  if (!log) return undefined;
  const [job, task] = log.slice(4).split('.').map(Number) as [number, number];
  const owner = ctx.reader.job(job)?.owner;
  if (owner === undefined) throw new RequestRefusedError(404, `job ${job} does not exist`);
  if (!mayRead(who, owner)) throw new RequestRefusedError(403, `${who.user} may not read the output of job ${job}: it belongs to ${owner}`, "only the owner, root and managers read a job's output");
  const attempt = ctx.db.prepare('SELECT id FROM attempts WHERE job_id = ? AND task_id = ? ORDER BY leased_at DESC, rowid DESC LIMIT 1').pluck().get(job, task) as string | undefined;
  return attempt;
}

export type { FastifyRequest };
