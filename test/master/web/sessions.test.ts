import t from 'tap';
import { SESSION_MS, SIGN_IN_LINK_MS, WebSessions, cookieValue } from '../../../master/web/sessions.js';
import type { FastifyRequest } from 'fastify';

/** Dashboard sign-in: one-time links, expiring sessions, CSRF tokens; with a fixed clock. */

const alice = { user: 'alice', uid: 1000, gid: 1000, group: 'alice', home: '/home/alice' };
const request = (headers: Record<string, string>): FastifyRequest => ({ headers }) as unknown as FastifyRequest;

t.test('a sign-in link works once, and only while fresh', async (t) => {
  let now = 1_000_000;
  const sessions = new WebSessions(() => now);
  const link = sessions.createSignInLink(alice);
  const redeemed = sessions.redeem(link);
  t.equal(redeemed?.session.account.user, 'alice');
  t.equal(sessions.redeem(link), undefined, 'a second visit gets nothing');
  const late = sessions.createSignInLink(alice);
  now += SIGN_IN_LINK_MS + 1;
  t.equal(sessions.redeem(late), undefined, 'an old link gets nothing');
  t.equal(sessions.redeem('made-up'), undefined);
});

t.test('a session is known by its cookie until it expires', async (t) => {
  let now = 1_000_000;
  const sessions = new WebSessions(() => now);
  const { id } = sessions.redeem(sessions.createSignInLink(alice))!;
  const req = request({ cookie: `other=1; qfarm_session=${id}` });
  t.equal(sessions.fromRequest(req)?.account.user, 'alice');
  t.equal(sessions.fromRequest(request({ cookie: 'qfarm_session=guess' })), undefined);
  now += SESSION_MS + 1;
  t.equal(sessions.fromRequest(req), undefined, 'expired');
});

t.test('the CSRF token must be sent in the header, exactly', async (t) => {
  const sessions = new WebSessions();
  const { session } = sessions.redeem(sessions.createSignInLink(alice))!;
  t.ok(WebSessions.csrfMatches(request({ 'x-qfarm-csrf': session.csrf }), session));
  t.notOk(WebSessions.csrfMatches(request({}), session));
  t.notOk(WebSessions.csrfMatches(request({ 'x-qfarm-csrf': session.csrf.slice(1) }), session));
  t.notOk(WebSessions.csrfMatches(request({ cookie: `x-qfarm-csrf=${session.csrf}` }), session));
});

t.test('signing out ends the session', async (t) => {
  const sessions = new WebSessions();
  const { id } = sessions.redeem(sessions.createSignInLink(alice))!;
  const req = request({ cookie: `qfarm_session=${id}` });
  sessions.end(req);
  t.equal(sessions.fromRequest(req), undefined);
  t.equal(cookieValue('a=1; b=2', 'b'), '2');
});
