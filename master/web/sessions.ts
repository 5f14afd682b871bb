import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Account } from '../api/user-database.js';

/** How long a `qfarm web` sign-in link works, and how long a browser session lasts. */
export const SIGN_IN_LINK_MS = 5 * 60_000;
export const SESSION_MS = 12 * 60 * 60_000;
/** Bounds memory: the oldest sessions go first when more are open. */
const MAX_SESSIONS = 10_000;
const MAX_PENDING_LINKS = 1_000;
export const SESSION_COOKIE = 'qfarm_session';
export const CSRF_HEADER = 'x-qfarm-csrf';

export interface WebSession {
  account: Account;
  csrf: string;
  expires: number;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const secret = (): string => randomBytes(32).toString('base64url');

/**
 * Browser sessions of the dashboard. A sign-in link is made for the identity that asked for it
 * (the API socket's peer or a token), works once and briefly; visiting it turns into a session
 * cookie. Only hashes of links and session ids are kept, so a heap dump or log names no
 * usable secret. Sessions live in memory: a master restart signs everyone out (run `qfarm web`
 * again).
 */
export class WebSessions {
  private readonly links = new Map<string, { account: Account; expires: number }>();
  private readonly sessions = new Map<string, WebSession>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A one-time sign-in secret for `account`. */
  createSignInLink(account: Account): string {
    this.sweep();
    if (this.links.size >= MAX_PENDING_LINKS) this.links.delete(this.links.keys().next().value as string);
    const token = secret();
    this.links.set(sha256(token), { account, expires: this.now() + SIGN_IN_LINK_MS });
    return token;
  }

  /** Consumes a sign-in secret: the session id for the cookie, or undefined (unknown, used or expired). */
  redeem(token: string): { id: string; session: WebSession } | undefined {
    const key = sha256(token);
    const link = this.links.get(key);
    this.links.delete(key);
    if (!link || link.expires < this.now()) return undefined;
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value as string);
    const id = secret();
    const session = { account: link.account, csrf: secret(), expires: this.now() + SESSION_MS };
    this.sessions.set(sha256(id), session);
    return { id, session };
  }

  /** The session a request's cookie names, if it is still valid. */
  fromRequest(req: FastifyRequest): WebSession | undefined {
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (!id) return undefined;
    const key = sha256(id);
    const session = this.sessions.get(key);
    if (!session) return undefined;
    if (session.expires < this.now()) {
      this.sessions.delete(key);
      return undefined;
    }
    return session;
  }

  /** Ends the session of the request (sign out). */
  end(req: FastifyRequest): void {
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (id) this.sessions.delete(sha256(id));
  }

  /** True when the request carries the session's CSRF token (header, compared in constant time). */
  static csrfMatches(req: FastifyRequest, session: WebSession): boolean {
    const sent = req.headers[CSRF_HEADER];
    if (typeof sent !== 'string') return false;
    const a = Buffer.from(sent);
    const b = Buffer.from(session.csrf);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, link] of this.links) if (link.expires < now) this.links.delete(key);
  }
}

/** One cookie's value from a Cookie header (no dependency: the dashboard sets exactly one). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
