import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import * as tls from 'node:tls';

/**
 * Certificate pinning for the CLI and the agent: the master's certificate is trusted because its
 * SHA-256 fingerprint is the one published in master.json (or given by the admin), not because
 * a CA signed it or a host name matches, so a master reached by bare IP address works.
 *
 * The TLS socket is handed to http/ws only after the handshake finished and the fingerprint
 * matched: nothing (no request line, no token) is written to a server that has not proved it.
 * Import this module lazily: it loads node:tls, which the plain-http path must not pay for.
 */

/** Node's format (`AB:CD:…`, 32 upper-case hex pairs); accepts `sha256:`, any case, colons or not. */
export function normaliseFingerprint(text: string): string {
  const hex = text.trim().replace(/^sha-?256[:=]/i, '').replace(/:/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) {
    throw new Error(`"${text}" is not a SHA-256 certificate fingerprint (64 hex digits, colons optional; the master prints it at start and writes it to master.json)`);
  }
  return hex.match(/../g)!.join(':');
}

/** The server showed another certificate than the pinned one: possibly a man in the middle. */
export class TlsPinMismatchError extends Error {
  readonly code = 'QFARM_TLS_PIN_MISMATCH';
  constructor(
    readonly target: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `the TLS certificate of ${target} has fingerprint ${actual}, but ${expected} is pinned; ` +
        'nothing was sent. If the master made a new certificate, pin the new fingerprint (master.json, or the line "TLS certificate fingerprint" in its log); otherwise someone may be intercepting the connection',
    );
    this.name = 'TlsPinMismatchError';
  }
}

type ConnectOptions = { host?: string | null; hostname?: string | null; port?: number | string | null };

/**
 * A `createConnection` for http(s).request and ws: dials TLS, checks the pin, then hands over the
 * socket (the callback form, which both accept). A CA check would fail on a self-signed
 * certificate, so it is replaced by the pin, which is stricter: exactly one certificate.
 */
export function pinnedConnection(fingerprint: string): (options: ConnectOptions, done: (err: Error | null, socket?: Socket) => void) => undefined {
  const expected = normaliseFingerprint(fingerprint);
  return (options, done) => {
    const host = (options.hostname || options.host || 'localhost').replace(/^\[|\]$/g, '');
    const port = Number(options.port) || 443;
    const socket = tls.connect({
      host,
      port,
      // SNI carries names only; an address there is refused by Node (DEP0123).
      ...(isIP(host) ? {} : { servername: host }),
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    let settled = false;
    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      if (err) {
        socket.destroy();
        done(err);
      } else done(null, socket);
    };
    // Stays attached after the hand-over (then a no-op): the http client adds its own listener a tick later.
    socket.on('error', finish);
    socket.once('secureConnect', () => {
      const actual = socket.getPeerCertificate().fingerprint256 ?? '(no certificate)';
      finish(actual === expected ? null : new TlsPinMismatchError(`${host}:${port}`, expected, actual));
    });
    return undefined;
  };
}
