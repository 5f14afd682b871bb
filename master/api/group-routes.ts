import type { FastifyInstance, FastifyReply } from 'fastify';
import { groupApiValidators } from '../../protocol/group-api.js';
import { groupValidators } from '../../protocol/groups.js';
import { GroupRequestError } from '../groups/group-service.js';
import type { ApiContext } from './context.js';
import { RequestRefusedError, sendError } from './errors.js';
import { requireAdmin } from './identity.js';

/** Groups of worker machines (`qfarm group|cluster`) and `qfarm perf`. */
export function registerGroupRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const service = () => {
    if (!ctx.groups) throw new RequestRefusedError(503, 'groups are not available on this master yet', 'retry once the master has started');
    return ctx.groups;
  };
  const fail = (reply: FastifyReply, err: unknown): FastifyReply =>
    err instanceof GroupRequestError ? sendError(reply, new RequestRefusedError(err.status, err.message, err.hint)) : sendError(reply, err);
  const name = (params: unknown): string => (params as { name: string }).name;

  app.post('/groups', async (req, reply) => {
    try {
      requireAdmin(req, 'create groups');
      return await service().create(groupValidators.groupSpecInput.parse(req.body));
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.get('/groups', async (_req, reply) => {
    try {
      return { groups: await service().list() };
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.get('/groups/:name', async (req, reply) => {
    try {
      return await service().show(name(req.params));
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.post('/groups/:name/resize', async (req, reply) => {
    try {
      requireAdmin(req, `resize group ${name(req.params)}`);
      return await service().resize(name(req.params), groupValidators.groupResizeRequest.parse(req.body));
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.patch('/groups/:name', async (req, reply) => {
    try {
      requireAdmin(req, `change group ${name(req.params)}`);
      return await service().update(name(req.params), groupApiValidators.groupUpdateRequest.parse(req.body));
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.delete('/groups/:name', async (req, reply) => {
    try {
      requireAdmin(req, `delete group ${name(req.params)}`);
      const res = await service().delete(name(req.params));
      return reply.code(res.deleted ? 200 : 202).send(res);
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.get('/perf', async (_req, reply) => {
    try {
      return service().perf();
    } catch (err) {
      return fail(reply, err);
    }
  });
}
