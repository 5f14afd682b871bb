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
  if (onLog) source.addEventListener('log', (e) => onLog(JSON.parse((e as MessageEvent).data).text));
  return () => source.close();
}

export interface ActionResponse {
  messages: { ok: boolean; text: string }[];
}
