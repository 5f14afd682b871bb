import { Type, type Static } from '@sinclair/typebox';

/**
 * Identity routes of the HTTP API (see protocol/api.ts for the others). Who asks is never a
 * field of a request: it is the peer uid of the unix socket QFARM_HOME/api.sock, or the owner
 * of the bearer token (the admin token is root; a per-user token is exactly that user).
 *
 *   GET  /identity                  —                    → IdentityResponse   (who the master thinks you are)
 *   POST /tokens                    TokenCreateRequest   → TokenCreateResponse (root only)
 *   GET  /tokens                    —                    → TokenListResponse   (root only)
 *   POST /tokens/revoke             TokenRevokeRequest   → TokenListResponse   (root only; the revoked ones)
 *   GET  /managers                  —                    → ManagerListResponse
 *   POST /managers | /managers/remove  ManagerRequest    → ActionResponse      (root only)
 */

const UserName = Type.String({ minLength: 1, maxLength: 64 });

export const IdentityResponse = Type.Object({
  user: Type.String(),
  uid: Type.Integer({ minimum: 0 }),
  gid: Type.Integer({ minimum: 0 }),
  group: Type.String(),
  home: Type.String(),
  /** How the master knows: the socket's peer uid, the admin token, or a per-user token. */
  via: Type.Union([Type.Literal('socket'), Type.Literal('admin-token'), Type.Literal('user-token'), Type.Literal('web-session')]),
  /** Root or a manager: may act on every job, hosts and groups. */
  mayActOnAll: Type.Boolean(),
});
export type IdentityResponse = Static<typeof IdentityResponse>;

export const TokenCreateRequest = Type.Object({ user: UserName }, { additionalProperties: false });
export type TokenCreateRequest = Static<typeof TokenCreateRequest>;

/** The token is in this answer once; the master keeps only its hash. */
export const TokenCreateResponse = Type.Object({
  id: Type.String(),
  user: Type.String(),
  uid: Type.Integer({ minimum: 0 }),
  gid: Type.Integer({ minimum: 0 }),
  home: Type.String(),
  token: Type.String({ minLength: 16 }),
});
export type TokenCreateResponse = Static<typeof TokenCreateResponse>;

export const UserTokenInfo = Type.Object({
  id: Type.String(),
  user: Type.String(),
  uid: Type.Integer(),
  createdAt: Type.Number(),
  lastUsed: Type.Union([Type.Number(), Type.Null()]),
});
export type UserTokenInfo = Static<typeof UserTokenInfo>;

export const TokenListResponse = Type.Object({ tokens: Type.Array(UserTokenInfo) });
export type TokenListResponse = Static<typeof TokenListResponse>;

/** A token id, or a user name: every token of that user. */
export const TokenRevokeRequest = Type.Object({ target: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
export type TokenRevokeRequest = Static<typeof TokenRevokeRequest>;

export const ManagerRequest = Type.Object({ user: UserName }, { additionalProperties: false });
export type ManagerRequest = Static<typeof ManagerRequest>;

export const ManagerListResponse = Type.Object({ managers: Type.Array(Type.Object({ user: Type.String(), addedAt: Type.Number() })) });
export type ManagerListResponse = Static<typeof ManagerListResponse>;
