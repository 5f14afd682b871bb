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
  /** The API for local users: identity from the peer's uid, no token (master/api/unix-socket.ts). */
  apiSocketFile: string;
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
    apiSocketFile: path.join(root, 'api.sock'),
    logsDir: path.join(root, 'logs'),
  };
}

/**
 * Creates QFARM_HOME as 0711: every user may reach api.sock and master.json by name, nobody but
 * its owner may list it or read anything else (store, tokens, logs are private: see
 * privateStateWarnings).
 */
export function ensureHome(home: FarmHome): void {
  fs.mkdirSync(home.root, { recursive: true, mode: 0o711 });
  fs.chmodSync(home.root, 0o711);
  fs.mkdirSync(home.logsDir, { recursive: true, mode: 0o700 });
}

/** Files of QFARM_HOME that only the master's user may read, with the mode each should have. */
function privateFiles(home: FarmHome): Array<{ file: string; mode: number }> {
  return [
    ...['', '-wal', '-shm'].map((suffix) => ({ file: home.storeFile + suffix, mode: 0o600 })),
    { file: home.apiTokenFile, mode: 0o600 },
    { file: home.agentTokenFile, mode: 0o600 },
    { file: home.logsDir, mode: 0o700 },
  ];
}

/**
 * One line per private file that others can read or write, naming the chmod that fixes it: the
 * store holds every job's environment, the tokens are root's and the agents' keys. Warned
 * about, not changed behind the administrator's back.
 */
export function privateStateWarnings(home: FarmHome): string[] {
  const warnings: string[] = [];
  for (const { file, mode } of privateFiles(home)) {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(file);
    } catch {
      continue; // Not created yet (-wal, -shm come and go with SQLite's checkpoints).
    }
    if ((stat.mode & 0o077) !== 0) {
      warnings.push(`${file} is accessible by other users (mode ${(stat.mode & 0o777).toString(8)}): run chmod ${mode.toString(8)} ${file}`);
    }
  }
  return warnings;
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
