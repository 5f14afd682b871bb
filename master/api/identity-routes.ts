import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import { validators } from '../../protocol/api.js';
import type { IdentityResponse } from '../../protocol/identity-api.js';
import type { ApiContext } from './context.js';
import { RequestRefusedError, sendError } from './errors.js';
import { identityOf, requireRoot } from './identity.js';
import { UnknownUserError } from './user-database.js';

/** `qfarm whoami`, `qfarm token create|list|revoke`, `qfarm manager add|remove|list`. */
export function registerIdentityRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const account = async (user: string) => {
    try {
      return await ctx.users.byName(user);
    } catch (err) {
      if (err instanceof UnknownUserError) throw new RequestRefusedError(404, err.message, 'create the account on the master machine first, or check the spelling');
      throw err;
    }
  };

  app.get('/identity', async (req, reply) => {
    try {
      const id = identityOf(req);
      const body: IdentityResponse = { ...id.account, via: id.via, mayActOnAll: id.mayActOnAll };
      return body;
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.post('/tokens', async (req, reply) => {
    try {
      const by = requireRoot(req, 'issue API tokens');
      const { user } = validators.tokenCreateRequest.parse(req.body);
      const target = await account(user);
      const { id, token } = ctx.identities.createToken(target.user, target.uid);
      req.log.info({ tokenId: id, user: target.user, by: by.user }, 'per-user API token issued');
      return { id, user: target.user, uid: target.uid, gid: target.gid, home: target.home, token };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/tokens', async (req, reply) => {
    try {
      requireRoot(req, 'list API tokens');
      return { tokens: ctx.identities.listTokens() };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.post('/tokens/revoke', async (req, reply) => {
    try {
      const by = requireRoot(req, 'revoke API tokens');
      const { target } = validators.tokenRevokeRequest.parse(req.body);
      const tokens = ctx.identities.revokeTokens(target);
      if (tokens.length === 0) throw new RequestRefusedError(404, `no token has id or user "${target}"`, "'qfarm token list' shows them");
      req.log.info({ tokens: tokens.map((t) => t.id), by: by.user }, 'API tokens revoked');
      return { tokens };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/managers', async (_req, reply) => {
    try {
      return { managers: ctx.identities.listManagers() };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  // Texts as SGE's qconf -am / -dm print them.
  app.post('/managers', async (req, reply) => {
    try {
      const by = requireRoot(req, 'add managers');
      const { user } = validators.managerRequest.parse(req.body);
      const target = await account(user);
      const added = ctx.identities.addManager(target.user);
      const host = os.hostname().split('.')[0];
      return { messages: [{ ok: added, text: added ? `${by.user}@${host} added "${target.user}" to manager list` : `denied: "${target.user}" already exists` }] };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.post('/managers/remove', async (req, reply) => {
    try {
      const by = requireRoot(req, 'remove managers');
      const { user } = validators.managerRequest.parse(req.body);
      const removed = ctx.identities.removeManager(user);
      const host = os.hostname().split('.')[0];
      return { messages: [{ ok: removed, text: removed ? `${by.user}@${host} removed "${user}" from manager list` : `denied: user "${user}" is not a manager` }] };
    } catch (err) {
      return sendError(reply, err);
    }
  });
}
