import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where one farm keeps everything: config, store, tokens, logs (see DESIGN: Configuration). */
export interface FarmHome {
  root: string;
  storeFile: string;
  apiTokenFile: string;
  agentTokenFile: string;
  masterInfoFile: string;
  logsDir: string;
}

export function resolveHome(env: NodeJS.ProcessEnv = process.env): FarmHome {
  const root = path.resolve(env['QFARM_HOME'] || path.join(os.homedir(), '.qfarm'));
  return {
    root,
    storeFile: path.join(root, 'store.sqlite'),
    apiTokenFile: path.join(root, 'api-token'),
    agentTokenFile: path.join(root, 'agent-token'),
    masterInfoFile: path.join(root, 'master.json'),
    logsDir: path.join(root, 'logs'),
  };
}

/** Creates QFARM_HOME private to its owner (it holds tokens). */
export function ensureHome(home: FarmHome): void {
  fs.mkdirSync(home.root, { recursive: true, mode: 0o700 });
  fs.mkdirSync(home.logsDir, { recursive: true, mode: 0o700 });
}

/**
 * Published so the CLI and agents on this machine find the master without configuration; with
 * TLS, `tlsFingerprint` is the certificate they pin (public, like the URL).
 */
export function writeMasterInfo(home: FarmHome, info: { url: string; pid: number; tlsFingerprint?: string }): void {
  const tmp = `${home.masterInfoFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(info) + '\n', { mode: 0o644 });
  fs.renameSync(tmp, home.masterInfoFile);
}

export function removeMasterInfo(home: FarmHome): void {
  try {
    const info = JSON.parse(fs.readFileSync(home.masterInfoFile, 'utf8')) as { pid?: number };
    if (info.pid === process.pid) fs.unlinkSync(home.masterInfoFile);
  } catch {
    // Nothing to remove, or another master's file: leave it.
  }
}
