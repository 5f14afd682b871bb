import type { ServerResponse } from 'node:http';
import type { MasterEventBus, MasterEvents } from '../events.js';
import { attemptReader, type AttemptReader } from '../store/attempt-reader.js';
import type { Db } from '../store/database.js';

/** At most this many updates a second reach one page. */
export const FLUSH_MS = 250;
/** Log text buffered for one page between flushes; beyond it the page is told it missed some. */
const MAX_LOG_BUFFER = 64 * 1024;
const MAX_CLIENTS = 1_000;
const MAX_TOPICS = 16;

/** A topic a page listens to: `jobs`, `hosts`, `groups`, `job:ID`, or a task log `log:JOB.TASK`. */
interface Client {
  res: ServerResponse;
  topics: Set<string>;
  /** The attempt whose output this page tails, when it subscribed to a log it may read. */
  logAttempt: string | undefined;
  logBuffer: string;
  logDropped: boolean;
}

/**
 * The dashboard's live updates: one Server-Sent Events stream per page. Bus events only mark
 * topics dirty; one timer per FLUSH_MS tells each page which of its topics changed (it then
 * fetches the one page of rows it shows) and passes on log text, so a burst of a thousand
 * finished tasks is one message per page, and an idle farm sends nothing.
 */
export class LiveStreams {
  private readonly clients = new Set<Client>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly attempts: AttemptReader;

  /** Takes this page-stream set's listeners off the bus (close). */
  private readonly unsubscribe: (() => void)[] = [];

  constructor(db: Db, events: MasterEventBus) {
    this.attempts = attemptReader(db);
    const on = <E extends keyof MasterEvents>(event: E, listener: (...args: MasterEvents[E]) => void): void => {
      events.on(event, listener as never);
      this.unsubscribe.push(() => events.off(event, listener as never));
    };
    const job = (id: number): void => this.mark('jobs', `job:${id}`);
    on('job:submitted', job);
    on('job:finished', job);
    on('task:finished', job);
    on('schedule:wanted', () => this.mark('jobs'));
    on('attempt:usage', (attemptId) => this.markAttempt(attemptId));
    on('attempt:ended', (attemptId) => this.markAttempt(attemptId));
    on('host:online', () => this.mark('hosts', 'groups', 'jobs'));
    on('host:offline', () => this.mark('hosts', 'groups', 'jobs'));
    on('host:state-changed', () => this.mark('hosts', 'groups'));
    on('attempt:output', (attemptId, _stream, data) => this.output(attemptId, data));
  }

  get size(): number {
    return this.clients.size;
  }

  /** Starts a stream on `res` (already authorised); `logAttempt` only when the viewer may read it. */
  open(res: ServerResponse, topics: readonly string[], logAttempt: string | undefined): void {
    if (this.clients.size >= MAX_CLIENTS) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('too many dashboard pages are open on this master; close some');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-store', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n\n');
    const client: Client = { res, topics: new Set(topics.slice(0, MAX_TOPICS)), logAttempt, logBuffer: '', logDropped: false };
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
  }

  /** Marks topics as changed (also used after the hosts sampler ran). */
  mark(...topics: string[]): void {
    if (this.clients.size === 0) return;
    for (const t of topics) this.dirty.add(t);
    this.schedule();
  }

  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    clearTimeout(this.timer);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  private markAttempt(attemptId: string): void {
    if (this.clients.size === 0) return;
    const jobId = this.attempts.ref(attemptId)?.job_id;
    if (jobId !== undefined) this.mark('jobs', `job:${jobId}`);
  }

  private output(attemptId: string, data: Buffer): void {
    let any = false;
    for (const c of this.clients) {
      if (c.logAttempt !== attemptId) continue;
      any = true;
      if (c.logBuffer.length + data.length > MAX_LOG_BUFFER) c.logDropped = true;
      else c.logBuffer += data.toString('utf8');
    }
    if (any) this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  private flush(): void {
    this.timer = undefined;
    const dirty = [...this.dirty];
    this.dirty.clear();
    for (const c of this.clients) {
      const changed = dirty.filter((t) => c.topics.has(t));
      if (changed.length > 0) c.res.write(`event: changed\ndata: ${JSON.stringify(changed)}\n\n`);
      if (c.logBuffer !== '' || c.logDropped) {
        c.res.write(`event: log\ndata: ${JSON.stringify({ text: c.logBuffer, dropped: c.logDropped })}\n\n`);
        c.logBuffer = '';
        c.logDropped = false;
      }
    }
  }
}
