import { X509Certificate, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';
import * as der from './der.js';

/**
 * A self-signed X.509 v3 certificate for the master, built here because Node can sign but not
 * write certificates. Why not a package or openssl: `selfsigned` pulls node-forge (a large
 * pure-JS crypto stack) into the master, and the openssl binary is missing from slim images;
 * ECDSA P-256 with Node's own crypto.sign needs about a hundred lines of DER and nothing else.
 * The names only matter to clients that check them: qfarm's own clients pin the fingerprint.
 */

export interface CertificateRequest {
  /** Common name, shown by `openssl x509 -text` and browsers. */
  commonName: string;
  /** DNS names and IP addresses the certificate is valid for (subjectAltName). */
  names: readonly string[];
  /** @default now */
  notBefore?: Date;
  /** @default 10 years: a pinned certificate that expires would strand every agent at once. */
  validDays?: number;
}

export interface KeyAndCertificate {
  keyPem: string;
  certPem: string;
}

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

function ipBytes(address: string): Buffer {
  if (isIP(address) === 4) return Buffer.from(address.split('.').map(Number));
  // IPv6: expand "::" and write eight 16-bit groups.
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const groups = (s: string | undefined): string[] => (s ? s.split(':') : []);
  const left = groups(head);
  const right = groups(tail);
  const all = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return Buffer.from(all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

function subjectAltNames(names: readonly string[]): Buffer {
  const entries = names.map((name) => {
    const bare = name.replace(/%.*$/, ''); // fe80::1%eth0: the zone is not part of the address
    return isIP(bare) ? der.implicit(7, ipBytes(bare)) : der.implicit(2, Buffer.from(name, 'ascii'));
  });
  return der.sequence(...entries);
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return der.sequence(der.objectIdentifier(oid), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
}

export function createSelfSignedCertificate(request: CertificateRequest): KeyAndCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const notBefore = request.notBefore ?? new Date();
  const notAfter = new Date(notBefore.getTime() + (request.validDays ?? 3650) * 86_400_000);
  const name = der.sequence(der.set(der.sequence(der.objectIdentifier(OID.commonName), der.utf8String(request.commonName))));
  const algorithm = der.sequence(der.objectIdentifier(OID.ecdsaWithSha256));
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const tbs = der.sequence(
    der.explicit(0, der.unsignedInteger(Buffer.from([2]))), // v3
    der.unsignedInteger(serial),
    algorithm,
    name,
    der.sequence(der.time(notBefore), der.time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    der.explicit(
      3,
      der.sequence(
        extension(OID.basicConstraints, true, der.sequence()), // not a CA
        extension(OID.keyUsage, true, der.bitString(Buffer.from([0x80]))), // digitalSignature
        extension(OID.extKeyUsage, false, der.sequence(der.objectIdentifier(OID.serverAuth))),
        extension(OID.subjectAltName, false, subjectAltNames(request.names)),
      ),
    ),
  );
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const certificate = der.sequence(tbs, algorithm, der.bitString(signature));
  const body = certificate.toString('base64').replace(/.{1,64}/g, '$&\n');
  const certPem = `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`;
  // Parse what we wrote: a DER mistake must fail here, not in every client's handshake.
  const parsed = new X509Certificate(certPem);
  if (!parsed.verify(publicKey)) throw new Error('the self-signed certificate does not verify with its own key (DER builder bug)');
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), certPem };
}
