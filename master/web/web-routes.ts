import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { WebDashboard } from './dashboard.js';

/** The bundle made by scripts/build-web.mjs at `npm run build`: dist/web/. */
const ASSETS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');

const ASSETS: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/** No inline script or style anywhere; everything from this origin; never framed. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * The dashboard's pages: `/` (one HTML shell; the app routes by URL hash), its two bundled
 * assets, and `/web/sign-in` which turns a one-time link from `qfarm web` into a session cookie.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any server/logger flavour of fastify
export function registerWebRoutes(app: FastifyInstance<any, any, any, any>, web: WebDashboard): void {
  app.register(async (pages) => {
    pages.addHook('onSend', async (_req, reply, payload) => {
      reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
      reply.header('x-frame-options', 'DENY');
      return payload;
    });

    pages.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(readAsset('index.html')));

    pages.get('/assets/:file', async (req, reply) => {
      const file = (req.params as { file: string }).file;
      const type = ASSETS[file];
      if (!type) return reply.code(404).type('text/plain').send(`no dashboard asset "${file}"`);
      return reply.type(type).header('cache-control', 'no-cache').send(readAsset(file));
    });

    pages.get('/web/sign-in', async (req, reply) => {
      const token = (req.query as { token?: string }).token ?? '';
      const redeemed = token.length <= 100 ? web.sessions.redeem(token) : undefined;
      if (!redeemed) {
        return reply
          .code(403)
          .type('text/plain; charset=utf-8')
          .send('This sign-in link is not valid: it was used already, has expired (5 minutes) or was mistyped.\nRun `qfarm web` again for a new one.\n');
      }
      return reply.header('set-cookie', web.sessionCookie(redeemed.id)).header('cache-control', 'no-store').redirect('/', 303);
    });
  });
}

function readAsset(name: string): Buffer {
  const file = path.join(ASSETS_DIR, name);
  if (!fs.existsSync(file)) throw new Error(`dashboard asset ${file} is missing: run npm run build (it bundles web/ into dist/web/)`);
  return fs.readFileSync(file);
}
