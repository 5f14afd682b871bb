import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import { runTransaction, statementCache, type Db } from './database.js';

/** A per-user API token as listed: never the token itself. */
export interface UserTokenRow {
  id: string;
  user: string;
  uid: number;
  createdAt: number;
  lastUsed: number | null;
}

export interface ManagerRow {
  user: string;
  addedAt: number;
}

/** The prefix tells a person (and a secret scanner) what the string is. */
const TOKEN_PREFIX = 'qfarm_u_';
/** A token's last use is written at most this often: a busy user must not make every request a write. */
const TOUCH_EVERY_MS = 60_000;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Every write to the identity tables (user_tokens, managers): tokens are issued, looked up by
 * hash, touched and revoked here, managers added and removed here. A token names exactly one
 * user; the master keeps only its sha256 (the token has 256 random bits, so a plain hash is
 * enough: no dictionary to guess from).
 */
export class IdentityStore {
  private readonly q;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {
    this.q = statementCache(db);
  }

  /** Issues a token for `user`; the token is returned once and never again. */
  createToken(user: string, uid: number): { id: string; token: string } {
    const id = randomBytes(4).toString('hex');
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    this.q('INSERT INTO user_tokens (id, user, uid, hash, created_at) VALUES (?, ?, ?, ?, ?)').run(id, user, uid, hashToken(token), this.clock.now());
    return { id, token };
  }

  /** The token's owner, or undefined for an unknown (or revoked) token; records the use. */
  findToken(token: string): UserTokenRow | undefined {
    if (!token.startsWith(TOKEN_PREFIX)) return undefined;
    const row = this.q('SELECT id, user, uid, created_at AS createdAt, last_used AS lastUsed FROM user_tokens WHERE hash = ?').get(hashToken(token)) as UserTokenRow | undefined;
    if (!row) return undefined;
    const now = this.clock.now();
    if (row.lastUsed === null || now - row.lastUsed >= TOUCH_EVERY_MS) this.q('UPDATE user_tokens SET last_used = ? WHERE id = ?').run(now, row.id);
    return row;
  }

  listTokens(): UserTokenRow[] {
    return this.q('SELECT id, user, uid, created_at AS createdAt, last_used AS lastUsed FROM user_tokens ORDER BY user, created_at').all() as UserTokenRow[];
  }

  /** Revokes one token by id, or every token of a user; returns the revoked rows. */
  revokeTokens(idOrUser: string): UserTokenRow[] {
    return runTransaction(this.db, () => {
      const rows = this.q('SELECT id, user, uid, created_at AS createdAt, last_used AS lastUsed FROM user_tokens WHERE id = ? OR user = ?').all(idOrUser, idOrUser) as UserTokenRow[];
      this.q('DELETE FROM user_tokens WHERE id = ? OR user = ?').run(idOrUser, idOrUser);
      return rows;
    });
  }

  /** Adds a manager; false when already one. */
  addManager(user: string): boolean {
    return this.q('INSERT OR IGNORE INTO managers (user, added_at) VALUES (?, ?)').run(user, this.clock.now()).changes > 0;
  }

  /** Removes a manager; false when not one. */
  removeManager(user: string): boolean {
    return this.q('DELETE FROM managers WHERE user = ?').run(user).changes > 0;
  }

  isManager(user: string): boolean {
    return this.q('SELECT 1 FROM managers WHERE user = ?').get(user) !== undefined;
  }

  listManagers(): ManagerRow[] {
    return this.q('SELECT user, added_at AS addedAt FROM managers ORDER BY user').all() as ManagerRow[];
  }
}
