import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import { validators } from '../../protocol/api.js';
import type { IdentityResponse } from '../../protocol/identity-api.js';
import type { ApiContext } from './context.js';
import { answering, RequestRefusedError } from './errors.js';
import { identityOf, requireRoot } from './identity.js';
import { UnknownUserError } from './user-database.js';

/** A manager list change as SGE's qconf -am / -dm print it. */
function managerMessages(changed: boolean, done: string, denied: string): { messages: { ok: boolean; text: string }[] } {
  return { messages: [{ ok: changed, text: changed ? done : `denied: ${denied}` }] };
}

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
  const host = (): string => os.hostname().split('.')[0]!;

  app.get(
    '/identity',
    answering((req): IdentityResponse => {
      const id = identityOf(req);
      return { ...id.account, via: id.via, mayActOnAll: id.mayActOnAll };
    }),
  );

  app.post(
    '/tokens',
    answering(async (req) => {
      const by = requireRoot(req, 'issue API tokens');
      const { user } = validators.tokenCreateRequest.parse(req.body);
      const target = await account(user);
      const { id, token } = ctx.identities.createToken(target.user, target.uid);
      req.log.info({ tokenId: id, user: target.user, by: by.user }, 'per-user API token issued');
      return { id, user: target.user, uid: target.uid, gid: target.gid, home: target.home, token };
    }),
  );

  app.get(
    '/tokens',
    answering((req) => {
      requireRoot(req, 'list API tokens');
      return { tokens: ctx.identities.listTokens() };
    }),
  );

  app.post(
    '/tokens/revoke',
    answering((req) => {
      const by = requireRoot(req, 'revoke API tokens');
      const { target } = validators.tokenRevokeRequest.parse(req.body);
      const tokens = ctx.identities.revokeTokens(target);
      if (tokens.length === 0) throw new RequestRefusedError(404, `no token has id or user "${target}"`, "'qfarm token list' shows them");
      req.log.info({ tokens: tokens.map((t) => t.id), by: by.user }, 'API tokens revoked');
      return { tokens };
    }),
  );

  app.get(
    '/managers',
    answering(() => ({ managers: ctx.identities.listManagers() })),
  );

  app.post(
    '/managers',
    answering(async (req) => {
      const by = requireRoot(req, 'add managers');
      const { user } = validators.managerRequest.parse(req.body);
      const target = await account(user);
      const added = ctx.identities.addManager(target.user);
      return managerMessages(added, `${by.user}@${host()} added "${target.user}" to manager list`, `"${target.user}" already exists`);
    }),
  );

  app.post(
    '/managers/remove',
    answering((req) => {
      const by = requireRoot(req, 'remove managers');
      const { user } = validators.managerRequest.parse(req.body);
      const removed = ctx.identities.removeManager(user);
      return managerMessages(removed, `${by.user}@${host()} removed "${user}" from manager list`, `user "${user}" is not a manager`);
    }),
  );
}
