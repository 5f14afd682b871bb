import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError } from './cli-errors.js';

/** Where the CLI sends its requests, and the token it proves itself with. */
export interface MasterLocation {
  url: string;
  token: string;
  /** SHA-256 of the master's TLS certificate, pinned for an https master (see protocol/tls-pin.ts). */
  tlsFingerprint?: string;
}

export function qfarmHome(environment: NodeJS.ProcessEnv = process.env): string {
  return environment.QFARM_HOME || path.join(os.homedir(), '.qfarm');
}

/**
 * QFARM_MASTER + QFARM_TOKEN when set (either may be set alone), else `master.json` and
 * `api-token` under QFARM_HOME, as the master writes them at start (like SGE_ROOT/SGE_CELL).
 * The TLS pin is QFARM_TLS_FINGERPRINT, else master.json's `tlsFingerprint` when the URL came
 * from that file too (a fingerprint belongs to the master that published it).
 */
export function locateMaster(environment: NodeJS.ProcessEnv = process.env): MasterLocation {
  const home = qfarmHome(environment);
  let url = environment.QFARM_MASTER;
  let tlsFingerprint = environment.QFARM_TLS_FINGERPRINT || undefined;
  if (!url) {
    const file = path.join(home, 'master.json');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new CliError(
        `error: cannot find the qfarm master: ${file} ${describeReadError(err)}`,
        1,
        "start the master with 'qfarm up' or 'qfarm master', or set QFARM_HOME to the farm's directory, or QFARM_MASTER to its URL",
      );
    }
    try {
      const parsed = JSON.parse(text) as { url?: unknown; tlsFingerprint?: unknown };
      if (typeof parsed.url !== 'string' || parsed.url === '') throw new Error('no "url" field');
      url = parsed.url;
      if (typeof parsed.tlsFingerprint === 'string' && !tlsFingerprint) tlsFingerprint = parsed.tlsFingerprint;
    } catch (err) {
      throw new CliError(`error: ${file} is not a valid master.json: ${(err as Error).message}`, 1, "restart the master ('qfarm master') so it rewrites the file");
    }
  }
  let token = environment.QFARM_TOKEN;
  if (!token) {
    const file = path.join(home, 'api-token');
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new CliError(`error: cannot read the API token: ${file} ${describeReadError(err)}`, 1, 'set QFARM_TOKEN, or QFARM_HOME to the directory of the farm you use');
    }
  }
  return { url: url.replace(/\/+$/, ''), token, ...(tlsFingerprint ? { tlsFingerprint } : {}) };
}

function describeReadError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES') return 'is not readable by you';
  return `cannot be read (${code ?? (err as Error).message})`;
}
