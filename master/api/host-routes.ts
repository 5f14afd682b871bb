import type { FastifyInstance } from 'fastify';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import type { ApiContext } from './context.js';
import { RequestRefusedError, sendError } from './errors.js';
import { requireAdmin } from './identity.js';
import { hostViews } from '../views/hosts.js';
import { HostRemovalError, removeHost } from '../store/host-removal.js';
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
      const known = ctx.db.prepare('SELECT 1 FROM hosts WHERE hostname = ?').get(name) !== undefined;
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
    const count = (sql: string): number => ctx.db.prepare(sql).pluck().get() as number;
    const pendingTasks = ctx.db
      .prepare('SELECT id FROM jobs WHERE finished = 0 AND deleted = 0')
      .pluck()
      .all()
      .reduce<number>((sum, id) => sum + ctx.reader.pendingCount(ctx.reader.job(id as number)!), 0);
    return {
      ok: true,
      version: ctx.version,
      protocolVersion: PROTOCOL_VERSION,
      hosts: ctx.hub.sessionsList().length,
      pendingTasks,
      runningTasks: count(`SELECT COUNT(*) FROM tasks WHERE state IN ('leased', 'running')`),
    };
  });
}
