import Fastify, { LogController } from 'fastify';
import { API_PREFIX } from '../../protocol/version.js';
import type { ApiContext } from './context.js';
import { sendError } from './errors.js';
import { type Authenticator, setIdentity } from './identity.js';
import { registerIdentityRoutes } from './identity-routes.js';
import { registerJobRoutes } from './job-routes.js';
import { registerHostRoutes } from './host-routes.js';
import { registerLogRoutes } from './log-routes.js';
import { registerGroupRoutes } from './group-routes.js';
import { registerOpsRoutes } from './ops-routes.js';
import { installRequestBounds, RequestLimits } from './request-bounds.js';
import type { WebDashboard } from '../web/dashboard.js';
import { registerWebApiRoutes } from '../web/web-api-routes.js';
import { registerWebRoutes } from '../web/web-routes.js';

/**
 * The HTTP API. Every route under /api/v1 knows who asks before it runs (Authenticator: the
 * unix socket's peer uid, or a bearer token over TCP); bodies are validated with the
 * protocol's compiled schemas in the routes (not fastify's coercing validator: a wrong type is
 * an error, not silently converted).
 */
export function buildApiServer(ctx: ApiContext, auth: Authenticator, tls?: { key: string; cert: string }, web?: WebDashboard) {
  // With TLS, https and the agents' wss share the one port (the hub listens for upgrades on it).
  const app = Fastify({
    loggerInstance: ctx.log.child({ component: 'api' }),
    // Not the top-level disableRequestLogging: deprecated (FSTDEP023), a warning at every start.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: RequestLimits.bodyBytes,
    // A client that opens TCP and never finishes the handshake is dropped after 10 s (Node: 120 s).
    ...(tls ? { https: { key: tls.key, cert: tls.cert, minVersion: 'TLSv1.2' as const, handshakeTimeout: 10_000 } } : {}),
  });
  // Unauthenticated, outside the API prefix: for load balancers and Prometheus (no user data).
  app.register(async (ops) => registerOpsRoutes(ops, ctx));
  app.register(
    async (api) => {
      installRequestBounds(api);
      api.addHook('onRequest', async (req, reply) => {
        try {
          // A browser is known by its dashboard session (web/dashboard.ts), anything else as before.
          const browser = web?.identify(req, (session) => auth.withRole(session.account, 'web-session'));
          setIdentity(req, browser ?? (await auth.identify(req)));
        } catch (err) {
          return sendError(reply, err);
        }
      });
      registerIdentityRoutes(api, ctx);
      registerJobRoutes(api, ctx);
      registerHostRoutes(api, ctx);
      registerLogRoutes(api, ctx);
      registerGroupRoutes(api, ctx);
      if (web) registerWebApiRoutes(api, ctx, web);
    },
    { prefix: API_PREFIX },
  );
  if (web) registerWebRoutes(app, web);
  return app;
}
