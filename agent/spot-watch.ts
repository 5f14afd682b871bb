import { EventEmitter } from 'node:events';

/**
 * Watches the ECS instance metadata for a spot (preemptible) reclaim notice:
 * `GET <base>/latest/meta-data/instance/spot/termination-time` answers 404 (or empty) normally
 * and an ISO time about 5 minutes before the release once the instance is reclaimed. On a
 * notice the agent should stop taking work and tell the master, which requeues its tasks as
 * *interrupted* and tops the group up.
 *
 * Uses the metadata token (security-hardening mode) when the service offers it, because
 * instances launched with HttpTokens=required refuse plain requests.
 */

export const DEFAULT_METADATA_URL = 'http://100.100.100.200';
const TERMINATION_PATH = '/latest/meta-data/instance/spot/termination-time';
const TOKEN_PATH = '/latest/api/token';
const TOKEN_TTL_SECONDS = 21600;

export interface SpotNotice {
  /** As the metadata service gave it, e.g. 2026-11-23T10:05:00Z. */
  terminationTime: string;
  /** ms since epoch (NaN if the text was not a time). */
  terminationAt: number;
  detectedAt: number;
}

export interface SpotWatchOptions {
  /** @default QFARM_METADATA_URL or http://100.100.100.200 */
  baseUrl?: string;
  /** @default 5000 */
  intervalMs?: number;
  /** Per request: the metadata service is link-local and answers in milliseconds. @default 2000 */
  timeoutMs?: number;
  now?: () => number;
}

export interface SpotWatchEvents {
  notice: [SpotNotice];
  /** The metadata service could not be read (reported once per failure streak). */
  error: [Error];
}

export class SpotWatch extends EventEmitter<SpotWatchEvents> {
  private timer: NodeJS.Timeout | undefined;
  private token: { value: string; expiresAt: number } | null | undefined;
  private lastNotice: string | undefined;
  private failing = false;
  private readonly baseUrl: string;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(options: SpotWatchOptions = {}) {
    super();
    this.baseUrl = (options.baseUrl ?? process.env.QFARM_METADATA_URL ?? DEFAULT_METADATA_URL).replace(/\/+$/, '');
    this.intervalMs = options.intervalMs ?? 5000;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.now = options.now ?? Date.now;
  }

  /** Polls until stop(); the first check runs at once. */
  start(): void {
    if (this.timer) return;
    const tick = (): void => {
      void this.checkOnce()
        .catch(() => undefined)
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.intervalMs).unref();
        });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One look at the metadata; emits `notice` the first time a given termination time is seen. */
  async checkOnce(): Promise<SpotNotice | null> {
    try {
      const headers: Record<string, string> = {};
      const token = await this.metadataToken();
      if (token) headers['X-aliyun-ecs-metadata-token'] = token;
      const res = await fetch(this.baseUrl + TERMINATION_PATH, { headers, signal: AbortSignal.timeout(this.timeoutMs) });
      const text = (await res.text()).trim();
      if (res.status === 401 || res.status === 403) this.token = undefined; // token expired: fetch a new one next time
      this.failing = false;
      if (res.status === 404 || (res.ok && text === '')) return null;
      if (!res.ok) throw new Error(`metadata service answered ${res.status} for ${TERMINATION_PATH}`);
      const notice: SpotNotice = { terminationTime: text, terminationAt: Date.parse(text), detectedAt: this.now() };
      if (text !== this.lastNotice) {
        this.lastNotice = text;
        this.emit('notice', notice);
      }
      return notice;
    } catch (err) {
      if (!this.failing) {
        this.failing = true;
        const e = err as Error;
        this.emit('error', new Error(`spot watch: cannot read ${this.baseUrl}${TERMINATION_PATH}: ${e.message} (not on ECS? set QFARM_METADATA_URL or disable the spot watch)`));
      }
      throw err;
    }
  }

  /** The hardened-mode token, or null when the service does not offer tokens. */
  private async metadataToken(): Promise<string | null> {
    if (this.token === null) return null;
    if (this.token && this.token.expiresAt > this.now() + 60_000) return this.token.value;
    const res = await fetch(this.baseUrl + TOKEN_PATH, {
      method: 'PUT',
      headers: { 'X-aliyun-ecs-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = (await res.text()).trim();
    if (!res.ok || !text) {
      this.token = null;
      return null;
    }
    this.token = { value: text, expiresAt: this.now() + TOKEN_TTL_SECONDS * 1000 };
    return text;
  }
}
