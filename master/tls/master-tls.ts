import { X509Certificate, createPrivateKey } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isIP } from 'node:net';
import { createSelfSignedCertificate } from './self-signed.js';

/** What the master serves https/wss with, and the fingerprint clients pin. */
export interface MasterTls {
  key: string;
  cert: string;
  /** SHA-256 of the certificate, `AB:CD:…` (Node's fingerprint256 format). */
  fingerprint: string;
  /** Where they came from, for the start-up log. */
  certFile: string;
  generated: boolean;
}

export class MasterTlsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MasterTlsError';
  }
}

/** Loopback needs no TLS (nothing crosses a wire); any other listen address gets it by default. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'));
}

/** The names and addresses of this machine (and the listen address), for the certificate's subjectAltName. */
export function machineNames(listenHost: string): string[] {
  const names = new Set<string>(['localhost', os.hostname(), '127.0.0.1', '::1']);
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const a of addresses ?? []) if (!a.address.includes('%')) names.add(a.address);
  }
  const bare = listenHost.replace(/^\[|\]$/g, '');
  if (bare !== '0.0.0.0' && bare !== '::' && bare !== '') names.add(bare);
  return [...names];
}

function readPem(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new MasterTlsError(`cannot read the TLS ${what} ${file}: ${(err as Error).message}`);
  }
}

/**
 * Reads the key through one descriptor and judges that descriptor (fstat), not the path: the
 * key is the master's identity, and a copy readable by another user lets them impersonate it.
 * `strict` (the generated key) refuses; the admin's own key is warned about.
 */
function readPrivateKey(file: string, warn: (msg: string) => void, strict: boolean): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw new MasterTlsError(`cannot read the TLS key ${file}: ${(err as Error).message}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if ((st.mode & 0o077) !== 0 || st.uid !== process.getuid?.()) {
      const problem = `TLS key ${file} is ${(st.mode & 0o777).toString(8)} owned by uid ${st.uid}: anyone who can read it can impersonate the master`;
      if (strict) throw new MasterTlsError(`${problem}; fix with: chown ${process.getuid?.() ?? 0} ${file} && chmod 600 ${file}`);
      warn(`${problem}; chmod 600 it`);
    }
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

function fromPem(key: string, cert: string, certFile: string, generated: boolean): MasterTls {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new MasterTlsError(`${certFile} is not a PEM certificate: ${(err as Error).message}`);
  }
  let matches: boolean;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new MasterTlsError(`the TLS key for ${certFile} is not a PEM private key: ${(err as Error).message}`);
  }
  if (!matches) throw new MasterTlsError(`the TLS key does not belong to the certificate ${certFile}: give the key that was issued with it`);
  return { key, cert, fingerprint: x509.fingerprint256, certFile, generated };
}

/**
 * The admin's certificate and key, or the one made at first start in QFARM_HOME/tls/ (kept
 * across restarts: agents have pinned its fingerprint). The generated key is written 0600 with
 * O_EXCL into a directory only root can enter, then renamed into place, so it is never readable
 * by anyone else, even for a moment.
 */
export function loadOrCreateMasterTls(
  home: string,
  options: { listenHost: string; certFile?: string; keyFile?: string; warn: (msg: string) => void },
): MasterTls {
  if (options.certFile || options.keyFile) {
    if (!options.certFile || !options.keyFile) throw new MasterTlsError('--tls-cert and --tls-key go together: give both files');
    return fromPem(readPrivateKey(options.keyFile, options.warn, false), readPem(options.certFile, 'certificate'), options.certFile, false);
  }
  const dir = path.join(home, 'tls');
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (fs.existsSync(keyFile) || fs.existsSync(certFile)) {
    try {
      return fromPem(readPrivateKey(keyFile, options.warn, true), readPem(certFile, 'certificate'), certFile, false);
    } catch (err) {
      throw new MasterTlsError(`${(err as Error).message}. To start over, remove ${dir} (the master makes a new certificate; every agent and remote CLI must then pin its new fingerprint)`);
    }
  }
  const made = createSelfSignedCertificate({ commonName: `qfarm master ${os.hostname()}`, names: machineNames(options.listenHost) });
  const write = (file: string, text: string, mode: number): void => {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text, { mode, flag: 'wx' });
    fs.renameSync(tmp, file);
  };
  write(keyFile, made.keyPem, 0o600);
  write(certFile, made.certPem, 0o644);
  return fromPem(made.keyPem, made.certPem, certFile, true);
}
