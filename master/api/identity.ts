import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyRequest } from 'fastify';
import type { IdentityStore } from '../store/identity-store.js';
import type { Actor } from '../store/ownership.js';
import { tokenMatches } from '../tokens.js';
import { RequestRefusedError } from './errors.js';
import type { PeerCredentials } from './peer-credentials.js';
import { type Account, UnknownUserError, type UserDatabase } from './user-database.js';

/** Who sent a request, as the master established it: never a field of the request. */
export interface Identity extends Actor {
  account: Account;
  via: 'socket' | 'admin-token' | 'user-token' | 'web-session';
}

/** The admin token means root even where the user database has no root entry (a minimal container). */
const FALLBACK_ROOT: Account = { user: 'root', uid: 0, gid: 0, group: 'root', home: '/root' };

/**
 * Establishes the identity of every API request: on the unix socket the peer's uid (read with
 * SO_PEERCRED when the connection arrived, so no later file-descriptor reuse can change it);
 * over TCP the bearer token: the shared admin token is root, a per-user token exactly its user.
 */
export class Authenticator {
  private readonly peers = new WeakMap<Socket, PeerCredentials>();

  constructor(
    private readonly users: UserDatabase,
    private readonly store: IdentityStore,
    private readonly adminToken: string,
  ) {}

  /** Called by the unix-socket listener for each connection it accepts. */
  rememberPeer(socket: Socket, credentials: PeerCredentials): void {
    this.peers.set(socket, credentials);
  }

  async identify(req: FastifyRequest): Promise<Identity> {
    return this.identifyRaw(req.raw);
  }

  /** The same for a raw request (a WebSocket upgrade, which fastify does not route). */
  async identifyRaw(req: IncomingMessage): Promise<Identity> {
    const peer = this.peers.get(req.socket);
    if (peer) return this.withRole(await this.accountOf(peer.uid, 'the peer of the API socket'), 'socket');
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : '';
    if (token === '') {
      throw new RequestRefusedError(401, 'no API token: over TCP the master needs one', 'on the master machine use the socket QFARM_HOME/api.sock (no token needed); elsewhere ask root for one: qfarm token create USER');
    }
    if (tokenMatches(token, this.adminToken)) return this.withRole(await this.accountOf(0, 'the admin token').catch(() => FALLBACK_ROOT), 'admin-token');
    const row = this.store.findToken(token);
    if (!row) {
      throw new RequestRefusedError(401, 'the API token is not valid (unknown or revoked)', 'ask root for a new one (qfarm token create USER), or unset QFARM_TOKEN if it holds an old token');
    }
    const account = await this.accountOf(row.uid, `the owner of token ${row.id}`);
    if (account.user !== row.user) {
      throw new RequestRefusedError(401, `token ${row.id} was issued to ${row.user}, but uid ${row.uid} is now ${account.user}`, 'root should revoke it (qfarm token revoke) and issue a new one');
    }
    return this.withRole(account, 'user-token');
  }

  private async accountOf(uid: number, who: string): Promise<Account> {
    try {
      return await this.users.byUid(uid);
    } catch (err) {
      if (err instanceof UnknownUserError) throw new RequestRefusedError(403, `${who} has uid ${uid}, which is not in the master's user database`, 'add the account on the master machine (getent passwd must know it)');
      throw err;
    }
  }

  /** The identity of an account the master established earlier (a dashboard session), with its role as of now. */
  withRole(account: Account, via: Identity['via']): Identity {
    return { account, via, user: account.user, mayActOnAll: account.uid === 0 || this.store.isManager(account.user) };
  }
}

/** The request's identity, set by the API's onRequest hook before any route runs. */
export function identityOf(req: FastifyRequest): Identity {
  const identity = (req as unknown as { qfarmIdentity?: Identity }).qfarmIdentity;
  if (!identity) throw new Error(`no identity on ${req.method} ${req.url}: the authentication hook did not run`);
  return identity;
}

export function setIdentity(req: FastifyRequest, identity: Identity): void {
  (req as unknown as { qfarmIdentity?: Identity }).qfarmIdentity = identity;
}

/** Root or a manager, or a 403 naming the action. */
export function requireAdmin(req: FastifyRequest, action: string): Identity {
  const identity = identityOf(req);
  if (!identity.mayActOnAll) throw new RequestRefusedError(403, `${identity.user} may not ${action}: only root and managers may`, 'ask root (qfarm manager add USER makes a manager)');
  return identity;
}

/** Root only (tokens, managers), or a 403 naming the action. */
export function requireRoot(req: FastifyRequest, action: string): Identity {
  const identity = identityOf(req);
  if (identity.account.uid !== 0) throw new RequestRefusedError(403, `${identity.user} may not ${action}: only root may`, 'run it as root on the master machine');
  return identity;
}
