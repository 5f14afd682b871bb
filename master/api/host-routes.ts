import type { FastifyInstance } from 'fastify';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import type { ApiContext } from './context.js';
import { RequestRefusedError, sendError } from './errors.js';
import { requireAdmin } from './identity.js';
import { hostViews } from '../views/hosts.js';
import { farmCounts } from '../store/farm-counts.js';
import { HostRemovalError, removeHost } from '../store/host-removal.js';
import { hostReader } from '../store/host-reader.js';
import { accountingRecords } from '../views/accounting.js';

/** Hosts (qhost, qmod -d/-e), accounting (qacct) and health. */
export function registerHostRoutes(app: FastifyInstance, ctx: ApiContext): void {
  app.get('/hosts', async (req, reply) => {
    try {
      return { hosts: hostViews(ctx.db, ctx.hub, { all: (req.query as { all?: string }).all === '1', errors: ctx.health?.errors() }) };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.post('/hosts/:name/remove', async (req, reply) => {
    try {
      const name = (req.params as { name: string }).name;
      requireAdmin(req, `remove host ${name}`);
      removeHost(ctx.db, name, (agentId) => ctx.hub.session(agentId) !== undefined);
      return { messages: [{ ok: true, text: `removed host ${name} (its tasks' history stays in qacct)` }] };
    } catch (err) {
      if (err instanceof HostRemovalError) return sendError(reply, new RequestRefusedError(err.status, err.message, err.hint));
      return sendError(reply, err);
    }
  });

  for (const [action, disabled] of [['disable', true], ['enable', false]] as const) {
    app.post(`/hosts/:name/${action}`, async (req, reply) => {
      try {
        const name = (req.params as { name: string }).name;
        requireAdmin(req, `${action} host ${name}`);
        if (!ctx.transitions.setHostDisabled(name, disabled)) {
          throw new RequestRefusedError(404, `host "${name}" is not known to this master`, `'qhost' lists the hosts`);
        }
        return { messages: [{ ok: true, text: `${disabled ? 'disabled' : 'enabled'} host ${name}` }] };
      } catch (err) {
        return sendError(reply, err);
      }
    });
  }

  // qmod -c: root and managers clear a host's error state.
  app.post('/hosts/:name/clear-error', async (req, reply) => {
    try {
      const name = (req.params as { name: string }).name;
      requireAdmin(req, `clear the error state of host ${name}`);
      if (!ctx.health) throw new RequestRefusedError(503, 'this master keeps no host error states', 'restart the master');
      const known = hostReader(ctx.db).isKnown(name);
      if (!known) throw new RequestRefusedError(404, `host "${name}" is not known to this master`, `'qhost' lists the hosts`);
      const cleared = ctx.health.clear(name);
      if (cleared) ctx.events.emit('schedule:wanted', `host ${name} cleared of its error state`);
      return { messages: [{ ok: true, text: cleared ? `cleared the error state of host ${name}` : `host ${name} was not in error state` }] };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/accounting', async (req, reply) => {
    try {
      const query = req.query as { job?: string; owner?: string };
      return { records: accountingRecords(ctx.db, query) };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/health', async () => {
    const counts = farmCounts(ctx.db);
    const pendingTasks = ctx.reader.pendingTaskCount();
    return {
      ok: true,
      version: ctx.version,
      protocolVersion: PROTOCOL_VERSION,
      hosts: ctx.hub.sessionsList().length,
      pendingTasks,
      runningTasks: counts.activeTaskCount(),
    };
  });
}
