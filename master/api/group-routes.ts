import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { groupApiValidators } from '../../protocol/group-api.js';
import { groupValidators } from '../../protocol/groups.js';
import { GroupRequestError } from '../groups/group-service.js';
import type { ApiContext } from './context.js';
import { answering, RequestRefusedError } from './errors.js';
import { requireAdmin } from './identity.js';

/** Groups of worker machines (`qfarm group|cluster`) and `qfarm perf`. */
export function registerGroupRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const service = () => {
    if (!ctx.groups) throw new RequestRefusedError(503, 'groups are not available on this master yet', 'retry once the master has started');
    return ctx.groups;
  };
  // The group service refuses in its own words (it does not know HTTP); they reach the client as a refusal.
  const groupRoute = <R>(handler: (req: FastifyRequest, reply: FastifyReply) => Promise<R> | R) =>
    answering(async (req, reply) => {
      try {
        return await handler(req, reply);
      } catch (err) {
        throw err instanceof GroupRequestError ? new RequestRefusedError(err.status, err.message, err.hint) : err;
      }
    });
  const name = (params: unknown): string => (params as { name: string }).name;

  app.post('/groups', groupRoute((req) => {
    requireAdmin(req, 'create groups');
    return service().create(groupValidators.groupSpecInput.parse(req.body));
  }));

  app.get('/groups', groupRoute(async () => ({ groups: await service().list() })));

  app.get('/groups/:name', groupRoute((req) => service().show(name(req.params))));

  app.post('/groups/:name/resize', groupRoute((req) => {
    requireAdmin(req, `resize group ${name(req.params)}`);
    return service().resize(name(req.params), groupValidators.groupResizeRequest.parse(req.body));
  }));

  app.patch('/groups/:name', groupRoute((req) => {
    requireAdmin(req, `change group ${name(req.params)}`);
    return service().update(name(req.params), groupApiValidators.groupUpdateRequest.parse(req.body));
  }));

  app.delete('/groups/:name', groupRoute(async (req, reply) => {
    requireAdmin(req, `delete group ${name(req.params)}`);
    const res = await service().delete(name(req.params));
    return reply.code(res.deleted ? 200 : 202).send(res);
  }));

  app.get('/perf', groupRoute(() => service().perf()));
}
