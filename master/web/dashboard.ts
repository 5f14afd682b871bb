import type { FastifyRequest } from 'fastify';
import type { AgentHub } from '../agent-hub.js';
import type { Identity } from '../api/identity.js';
import { RequestRefusedError } from '../api/errors.js';
import type { MasterEventBus } from '../events.js';
import type { Db } from '../store/database.js';
import type { LogStore } from '../log-store.js';
import { FrameViews } from './frames.js';
import { HostHistory } from './host-history.js';
import { LiveStreams } from './live-stream.js';
import { SESSION_COOKIE, SESSION_MS, WebSessions } from './sessions.js';

/**
 * The web dashboard's state in the master: browser sessions, live streams and host history.
 * Built by master.ts; its routes are registered by api/server.ts (web-routes.ts at /, the
 * dashboard's reads under /api/v1/web).
 */
export class WebDashboard {
  readonly sessions = new WebSessions();
  readonly streams: LiveStreams;
  readonly history: HostHistory;
  readonly frames: FrameViews;
  /** Set once the master listens: the base of sign-in links. */
  publicUrl: () => string = () => '';

  constructor(
    db: Db,
    hub: AgentHub,
    events: MasterEventBus,
    logs: LogStore,
    readonly secureCookies: boolean,
  ) {
    this.frames = new FrameViews(db, logs);
    this.streams = new LiveStreams(db, events);
    this.history = new HostHistory(hub, () => this.streams.mark('hosts'));
  }

  start(): void {
    this.history.start();
  }

  stop(): void {
    this.history.stop();
    this.streams.close();
  }

  sessionCookie(id: string): string {
    return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_MS / 1000}${this.secureCookies ? '; Secure' : ''}`;
  }

  clearCookie(): string {
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${this.secureCookies ? '; Secure' : ''}`;
  }

  /**
   * The identity of a browser request, from its session cookie, or undefined when it has none
   * (then the API's own authentication runs). A request that changes something must carry the
   * session's CSRF token in a header, which another site's page can neither read nor send.
   */
  identify(req: FastifyRequest, asIdentity: (session: { account: Identity['account'] }) => Identity): Identity | undefined {
    if (req.headers.authorization) return undefined;
    const session = this.sessions.fromRequest(req);
    if (!session) return undefined;
    if (req.method !== 'GET' && req.method !== 'HEAD' && !WebSessions.csrfMatches(req, session)) {
      throw new RequestRefusedError(403, `the dashboard request of ${session.account.user} has no valid CSRF token`, 'reload the page; if it persists, sign in again with qfarm web');
    }
    return asIdentity(session);
  }
}
