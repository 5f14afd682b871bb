import type { Static, TSchema } from '@sinclair/typebox';
import { Check } from '@sinclair/typebox/value';

/** The dashboard's calls to the master: same-origin, the session cookie, and the CSRF header on actions. */
let csrf = '';

export interface Session {
  user: string;
  mayActOnAll: boolean;
  csrf: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, route: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers['x-qfarm-csrf'] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`/api/v1${route}`, { method, headers, credentials: 'same-origin', body: body === undefined ? null : JSON.stringify(body) });
  const text = await res.text();
  const parsed = text ? JSON.parse(text) : undefined;
  if (!res.ok) throw new ApiError(res.status, parsed?.error ?? `HTTP ${res.status}`, parsed?.hint);
  return parsed as T;
}

export const get = <T>(route: string): Promise<T> => call<T>('GET', route);
export const post = <T>(route: string, body: unknown = {}): Promise<T> => call<T>('POST', route, body);

/**
 * GET an answer and check it against its protocol schema (protocol/web-api.ts), so a master of
 * another version fails with what is wrong instead of a page drawing `undefined`.
 */
export async function getChecked<T extends TSchema>(route: string, schema: T): Promise<Static<T>> {
  const answer = await call<unknown>('GET', route);
  if (Check(schema, answer)) return answer;
  throw new ApiError(0, `the master's answer to ${route} is not what this page expects at ${firstMismatch(schema, answer, '')}`, 'reload the page: the master was probably upgraded since it was loaded');
}

/**
 * Where a value first departs from its schema, as a JSON pointer, found with Check alone
 * (TypeBox's Errors would add as much to the bundle as the checker itself).
 */
function firstMismatch(schema: TSchema, value: unknown, path: string): string {
  if (schema.type === 'object' && typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    for (const [key, sub] of Object.entries(schema.properties as Record<string, TSchema>)) {
      if (!(key in record) && !((schema.required as string[] | undefined) ?? []).includes(key)) continue; // an optional field left out
      if (!Check(sub, record[key])) return firstMismatch(sub, record[key], `${path}/${key}`);
    }
  }
  if (schema.type === 'array' && Array.isArray(value)) {
    const bad = value.findIndex((item) => !Check(schema.items as TSchema, item));
    if (bad >= 0) return firstMismatch(schema.items as TSchema, value[bad], `${path}/${bad}`);
  }
  return path || '/';
}

export async function loadSession(): Promise<Session> {
  const s = await get<Session>('/web/session');
  csrf = s.csrf;
  return s;
}

/**
 * One live stream per page: `onChanged` hears which of `topics` changed (coalesced by the
 * master to a few a second), `onLog` gets new output of a tailed task. Returns a closer.
 */
export function live(topics: string[], onChanged: (topics: string[]) => void, onLog?: (text: string) => void): () => void {
  const source = new EventSource(`/api/v1/web/events?topics=${encodeURIComponent(topics.join(','))}`);
  source.addEventListener('changed', (e) => onChanged(JSON.parse((e as MessageEvent).data)));
  // What changed before the stream was open (between the page's first fetch and now, or while
  // the browser reconnected) was never announced: every (re)connect counts as a change of all.
  source.addEventListener('open', () => onChanged(topics));
  if (onLog) source.addEventListener('log', (e) => onLog(JSON.parse((e as MessageEvent).data).text));
  return () => source.close();
}

export interface ActionResponse {
  messages: { ok: boolean; text: string }[];
}
