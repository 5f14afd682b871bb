import type http from 'node:http';
import type https from 'node:https';
import { deferredExtraCaFile } from './deferred-ca.js';
import type { Static, TSchema } from '@sinclair/typebox';
import { API_PREFIX } from '../protocol/version.js';
import type { Validator } from '../protocol/validate.js';
import { apiChecks } from './precompiled/api-checks.js';
import { CliError } from './cli-errors.js';
import { connectOptions, describeMaster, type MasterLocation } from './master-location.js';
import { BAD_ANSWER, requestOverSocket, TIMEOUT, type HttpAnswer } from './socket-http.js';

/** The master could not be reached at all. */
export class MasterUnreachableError extends CliError {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`error: unable to contact qfarm master at ${url}: ${reason}. Is it running? Start it with 'qfarm up' or 'qfarm master'`, 1);
    this.name = 'MasterUnreachableError';
  }
}

/** The https master showed a certificate other than the pinned one: nothing was sent to it. */
export class MasterCertificateError extends CliError {
  constructor(
    readonly url: string,
    reason: string,
    hint: string,
  ) {
    super(`error: refusing to talk to qfarm master at ${url}: ${reason}`, 1, hint);
    this.name = 'MasterCertificateError';
  }
}

/** The master answered with an error status; `error` and `hint` come from its ApiError body. */
export class ApiRequestError extends CliError {
  constructor(
    readonly status: number,
    readonly route: string,
    readonly error: string,
    hint?: string,
  ) {
    super(error, 1, hint);
    this.name = 'ApiRequestError';
  }
}

/** The master's answer did not match the protocol: a version mismatch or a bug, never ignored. */
export class InvalidResponseError extends CliError {
  constructor(
    readonly route: string,
    readonly problems: string,
  ) {
    super(`error: the qfarm master sent an invalid answer to ${route}: ${problems}`, 1, 'the master and the CLI are probably of different qfarm versions: upgrade the older one');
    this.name = 'InvalidResponseError';
  }
}

/** The response validators of protocol/api.ts, named (loaded lazily, see `request`). */
export type Validators = (typeof import('../protocol/api.js'))['validators'];
export type ValidatorName = keyof Validators;
/** The validated type of an answer checked by the named validator. */
export type Answer<K extends ValidatorName> = ReturnType<Validators[K]['parse']>;

export interface RequestOptions {
  /** Give up after this long (ms); 0 waits forever (long polls). Default 30 s. */
  timeoutMs?: number;
}

/**
 * A small HTTP client (global fetch costs tens of milliseconds to load, and qsub is called once
 * per job by workflow engines). Every answer is validated against its schema from
 * protocol/api.ts. On the master machine it talks over QFARM_HOME/api.sock (socket-http.ts) and
 * sends no token (the master asks the kernel who is calling); else node:http(s) to the master's
 * URL with the token, which is never printed.
 */
export class ApiClient {
  constructor(readonly master: MasterLocation) {}

  /** `validator`: a name from protocol/api.ts's `validators` (loaded lazily), or a validator. */
  get<K extends ValidatorName>(route: string, validator: K, options?: RequestOptions): Promise<Answer<K>>;
  get<T extends TSchema>(route: string, validator: Validator<T>, options?: RequestOptions): Promise<Static<T>>;
  get(route: string, validator: ValidatorName | Validator<TSchema>, options?: RequestOptions): Promise<unknown> {
    return this.request('GET', route, undefined, validator, options);
  }

  post<K extends ValidatorName>(route: string, body: unknown, validator: K, options?: RequestOptions): Promise<Answer<K>>;
  post<T extends TSchema>(route: string, body: unknown, validator: Validator<T>, options?: RequestOptions): Promise<Static<T>>;
  post(route: string, body: unknown, validator: ValidatorName | Validator<TSchema>, options?: RequestOptions): Promise<unknown> {
    return this.request('POST', route, body, validator, options);
  }

  /**
   * Sends the request and validates the answer. A validator given by name is checked with the
   * precompiled TypeBox check of that schema (cli/precompiled/api-checks.ts): loading TypeBox
   * itself is most of a CLI call's start-up time; it is loaded only to word a failure.
   */
  async request(method: string, route: string, body: unknown, validatorOrName: ValidatorName | Validator<TSchema>, options: RequestOptions = {}): Promise<unknown> {
    const { status, text } = await this.send(method, route, body, options.timeoutMs ?? 30_000);
    // The full validator decides whenever the fast check says no, so a precompiled check that
    // lags behind protocol/api.ts can cost time but never rejects a valid answer.
    const fullValidator = async (): Promise<Pick<Validator<TSchema>, 'check' | 'problems'>> =>
      typeof validatorOrName === 'string' ? (await import('../protocol/api.js')).validators[validatorOrName] : validatorOrName;
    const fastCheck = typeof validatorOrName === 'string' ? apiChecks[validatorOrName] : (value: unknown) => validatorOrName.check(value);
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
      if (status < 400) throw new InvalidResponseError(`${method} ${route}`, `not JSON (HTTP ${status}): ${text.slice(0, 200)}`);
    }
    if (status >= 400) {
      if (apiChecks.apiError(parsed)) {
        const { error, hint } = parsed as { error: string; hint?: string };
        throw new ApiRequestError(status, route, error, hint);
      }
      const fallback = status === 401 ? 'the master refused the API token' : `HTTP ${status} from the master`;
      const hint = status === 401 ? 'use the api-token of this farm (QFARM_TOKEN or QFARM_HOME/api-token)' : undefined;
      throw new ApiRequestError(status, route, `error: ${fallback} for ${method} ${route}`, hint);
    }
    if (!fastCheck(parsed)) {
      const full = await fullValidator();
      if (!full.check(parsed)) throw new InvalidResponseError(`${method} ${route}`, full.problems(parsed).join('; '));
    }
    return parsed;
  }

  private async send(method: string, route: string, body: unknown, timeoutMs: number): Promise<HttpAnswer> {
    const url = new URL(API_PREFIX + route, this.master.url);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { ...connectOptions(this.master).headers, accept: 'application/json' };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const { socketPath } = this.master;
    if (!socketPath) return this.sendOverNetwork(url, method, headers, payload, timeoutMs);
    try {
      return await requestOverSocket(socketPath, method, url.pathname + url.search, headers, payload, timeoutMs);
    } catch (err) {
      throw new MasterUnreachableError(describeMaster(this.master), describeNetworkError(err as NodeJS.ErrnoException, timeoutMs));
    }
  }

  /** To a master's URL: node:http(s), loaded only here (qsub on the master's machine uses the socket). */
  private async sendOverNetwork(url: URL, method: string, headers: Record<string, string>, payload: Buffer | undefined, timeoutMs: number): Promise<HttpAnswer> {
    const secure = url.protocol === 'https:';
    const transport = secure ? (await import('node:https')).default : (await import('node:http')).default;
    const fingerprint = this.master.tlsFingerprint;
    // Pinned: the socket reaches http only after the certificate matched, so the token is
    // never written to an impostor. Without a pin, https falls back to the system CAs (and
    // names the server it expects, SNI); plain http needs no server name, and working one out
    // compiles Node's IPv6 regular expression.
    const connection: https.RequestOptions = secure && fingerprint ? { createConnection: await pinnedConnectionFor(fingerprint) } : secure ? { agent: false, ...(await deferredCas()) } : { agent: false, servername: '' };
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { method, headers, ...connection }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => reject(new MasterUnreachableError(describeMaster(this.master), `connection lost while reading the answer (${err.message})`)));
      });
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: TIMEOUT })));
      }
      req.on('error', (err: NodeJS.ErrnoException) => reject(certificateError(this.master.url, err) ?? new MasterUnreachableError(describeMaster(this.master), describeNetworkError(err, timeoutMs))));
      req.end(payload);
    });
  }
}

/**
 * The CAs Node would have trusted had bin/ not deferred NODE_EXTRA_CA_CERTS (cli/deferred-ca.ts):
 * its own roots and the file's certificates. Nothing when it was not deferred (Node read it).
 */
async function deferredCas(): Promise<Pick<https.RequestOptions, 'ca'>> {
  if (deferredExtraCaFile === undefined) return {};
  const [tls, fs] = await Promise.all([import('node:tls'), import('node:fs')]);
  try {
    return { ca: [...tls.rootCertificates, fs.readFileSync(deferredExtraCaFile, 'utf8')] };
  } catch (err) {
    // As Node does with an unreadable NODE_EXTRA_CA_CERTS: say so, go on with its own roots.
    process.stderr.write(`Warning: Ignoring extra certs from \`${deferredExtraCaFile}\`, load failed: ${(err as Error).message}\n`);
    return {};
  }
}

async function pinnedConnectionFor(fingerprint: string): Promise<NonNullable<http.RequestOptions['createConnection']>> {
  const { pinnedConnection } = await import('../protocol/tls-pin.js');
  try {
    // The callback form: http.request waits for `done` before writing anything.
    return pinnedConnection(fingerprint) as unknown as NonNullable<http.RequestOptions['createConnection']>;
  } catch (err) {
    throw new CliError(`error: QFARM_TLS_FINGERPRINT or master.json's tlsFingerprint is wrong: ${(err as Error).message}`, 1);
  }
}

/** A pin mismatch, or a certificate no CA vouches for when nothing is pinned. */
function certificateError(url: string, err: NodeJS.ErrnoException): MasterCertificateError | undefined {
  if (err.code === 'QFARM_TLS_PIN_MISMATCH') {
    return new MasterCertificateError(url, err.message, 'compare with the fingerprint in the master\'s master.json; set QFARM_TLS_FINGERPRINT only to the one the master prints');
  }
  if (err.code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || err.code === 'SELF_SIGNED_CERT_IN_CHAIN' || err.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE') {
    return new MasterCertificateError(
      url,
      `its TLS certificate is not signed by a known authority (${err.code}) and no fingerprint is pinned`,
      'set QFARM_TLS_FINGERPRINT to the tlsFingerprint in the master\'s master.json (the master also logs it at start)',
    );
  }
  return undefined;
}

function describeNetworkError(err: NodeJS.ErrnoException, timeoutMs: number): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case TIMEOUT:
      return `no answer within ${timeoutMs / 1000} s`;
    case BAD_ANSWER:
      return `connection lost while reading the answer (${err.message})`;
    case 'ENOTFOUND':
      return 'host name not found';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      return err.code ? `${err.code} (${err.message})` : err.message;
  }
}
