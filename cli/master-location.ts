import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError } from './cli-errors.js';

/**
 * Where the CLI sends its requests. On the master machine that is the unix socket
 * QFARM_HOME/api.sock: the master knows the caller from the kernel and no token is sent.
 * Elsewhere a URL and a token (a per-user token from `qfarm token create`, or root's admin token).
 */
export interface MasterLocation {
  url: string;
  token: string;
  /** Set when requests go over QFARM_HOME/api.sock (url is then a placeholder). */
  socketPath?: string;
  /** SHA-256 of the master's TLS certificate, pinned for an https master (see protocol/tls-pin.ts). */
  tlsFingerprint?: string;
}

/** The site-wide farm every user's CLI finds without set-up, as SGE's SGE_ROOT/SGE_CELL. */
export const SITE_HOME = '/var/lib/qfarm';

/** A personal farm's home (`qfarm up` creates it): QFARM_HOME, else ~/.qfarm. */
export function ownFarmHome(environment: NodeJS.ProcessEnv = process.env): string {
  return environment.QFARM_HOME || path.join(os.homedir(), '.qfarm');
}

/**
 * The farm this shell uses: QFARM_HOME; else ~/.qfarm when it holds a farm (master.json or
 * api.sock); else the site-wide /var/lib/qfarm.
 */
export function qfarmHome(environment: NodeJS.ProcessEnv = process.env): string {
  if (environment.QFARM_HOME) return environment.QFARM_HOME;
  const personal = path.join(os.homedir(), '.qfarm');
  if (existsSync(path.join(personal, 'master.json')) || existsSync(path.join(personal, 'api.sock'))) return personal;
  return SITE_HOME;
}

/**
 * QFARM_MASTER (with QFARM_TOKEN, else ~/.qfarm/api-token, else QFARM_HOME/api-token); else
 * QFARM_HOME/api.sock when it exists (no token); else `master.json` + `api-token` under
 * QFARM_HOME, as the master writes them at start.
 */
export function locateMaster(environment: NodeJS.ProcessEnv = process.env): MasterLocation {
  const home = qfarmHome(environment);
  const explicit = environment.QFARM_MASTER;
  const pinned = environment.QFARM_TLS_FINGERPRINT || undefined;
  if (explicit) {
    return { url: explicit.replace(/\/+$/, ''), token: environment.QFARM_TOKEN || remoteToken(home, environment), ...(pinned ? { tlsFingerprint: pinned } : {}) };
  }
  const socketPath = path.join(home, 'api.sock');
  if (existsSync(socketPath)) return { url: 'http://localhost', token: '', socketPath };
  const file = path.join(home, 'master.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(
      `error: cannot find the qfarm master: ${file} ${describeReadError(err)}, and there is no ${socketPath}`,
      1,
      "start the master with 'qfarm up' or 'qfarm master', or set QFARM_HOME to the farm's directory, or QFARM_MASTER to its URL",
    );
  }
  let url: string;
  // A fingerprint belongs to the master that published it: master.json's pins master.json's URL.
  let tlsFingerprint = pinned;
  try {
    const parsed = JSON.parse(text) as { url?: unknown; tlsFingerprint?: unknown };
    if (typeof parsed.url !== 'string' || parsed.url === '') throw new Error('no "url" field');
    url = parsed.url;
    if (typeof parsed.tlsFingerprint === 'string' && !tlsFingerprint) tlsFingerprint = parsed.tlsFingerprint;
  } catch (err) {
    throw new CliError(`error: ${file} is not a valid master.json: ${(err as Error).message}`, 1, "restart the master ('qfarm master') so it rewrites the file");
  }
  return {
    url: url.replace(/\/+$/, ''),
    token: environment.QFARM_TOKEN || readToken(path.join(home, 'api-token')),
    ...(tlsFingerprint ? { tlsFingerprint } : {}),
  };
}

/** A remote user's own token (qfarm token create wrote it), else the farm's admin token. */
function remoteToken(home: string, environment: NodeJS.ProcessEnv): string {
  const own = path.join(environment.HOME || os.homedir(), '.qfarm', 'api-token');
  return existsSync(own) ? readToken(own) : readToken(path.join(home, 'api-token'));
}

function readToken(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new CliError(
      `error: cannot read the API token: ${file} ${describeReadError(err)}`,
      1,
      'set QFARM_TOKEN, or ask root for a token of your own (qfarm token create USER writes ~USER/.qfarm/api-token)',
    );
  }
}

/** Options for node:http requests to this master: the socket, or the bearer token. */
export function connectOptions(master: MasterLocation): { socketPath?: string; headers: Record<string, string> } {
  if (master.socketPath) return { socketPath: master.socketPath, headers: {} };
  return { headers: { authorization: `Bearer ${master.token}` } };
}

/** How the person should read `master.url` in an error. */
export function describeMaster(master: MasterLocation): string {
  return master.socketPath ? `${master.socketPath}` : master.url;
}

function describeReadError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES') return 'is not readable by you';
  return `cannot be read (${code ?? (err as Error).message})`;
}
