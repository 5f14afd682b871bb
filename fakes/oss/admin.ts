import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FaultInjector, FaultRuleSpec } from './faults.js';
import type { FakeOssStats } from './stats.js';

/** What the admin routes read and change on the running fake. */
export interface AdminTarget {
  stats: FakeOssStats;
  faults: FaultInjector;
  clockSkewMs: number;
}

/**
 * The unauthenticated `/_fake/*` routes (loopback, path-style only): stats, faults and clock
 * skew, answered in JSON. A bad body or rule is a 400 naming what was wrong.
 */
export async function handleAdmin(target: AdminTarget, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const json = (status: number, value: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  };
  let body: Record<string, unknown>;
  try {
    body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
  } catch (err) {
    return json(400, { error: `bad JSON: ${(err as Error).message}` });
  }
  const route = `${req.method} ${url.pathname}`;
  try {
    switch (route) {
      case 'GET /_fake/stats':
        return json(200, { maxInFlight: target.stats.maxInFlight, requests: target.stats.requests });
      case 'POST /_fake/reset-stats':
        target.stats.reset();
        return json(200, {});
      case 'POST /_fake/faults': {
        const rule = target.faults.add(body as unknown as FaultRuleSpec);
        return json(200, { id: rule.id });
      }
      case 'DELETE /_fake/faults':
        target.faults.clear();
        return json(200, {});
      case 'POST /_fake/clock':
        target.clockSkewMs = Number(body.skewMs ?? 0);
        return json(200, { skewMs: target.clockSkewMs });
      default:
        return json(404, { error: `unknown admin route ${route}` });
    }
  } catch (err) {
    return json(400, { error: (err as Error).message });
  }
}
