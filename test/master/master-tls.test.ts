import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isLoopbackHost, loadOrCreateMasterTls } from '../../master/tls/master-tls.js';
import { createSelfSignedCertificate } from '../../master/tls/self-signed.js';
import { parseMasterOptions } from '../../master/options.js';

/** The master's certificate: made once in QFARM_HOME/tls, kept, checked; or the admin's own. */

function tmpHome(t: { teardown(fn: () => unknown): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qfarm-tls-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
const quiet = { warn: () => undefined };

t.test('first start makes a key (0600) and a certificate valid for this machine, then keeps them', async (t) => {
  const home = tmpHome(t);
  const first = loadOrCreateMasterTls(home, { listenHost: '0.0.0.0', ...quiet });
  t.ok(first.generated);
  t.equal(fs.statSync(path.join(home, 'tls', 'key.pem')).mode & 0o777, 0o600);
  t.equal(fs.statSync(path.join(home, 'tls')).mode & 0o777, 0o700);
  const cert = new X509Certificate(fs.readFileSync(path.join(home, 'tls', 'cert.pem')));
  t.equal(first.fingerprint, cert.fingerprint256);
  t.ok(cert.checkHost(os.hostname()), 'valid for the host name');
  t.ok(cert.checkIP('127.0.0.1'), 'valid for loopback');
  const external = Object.values(os.networkInterfaces()).flat().find((a) => a && !a.internal && a.family === 'IPv4');
  if (external) t.ok(cert.checkIP(external.address), `valid for ${external.address}`);
  t.ok(cert.verify(cert.publicKey), 'self-signed');
  t.ok(new Date(cert.validTo).getTime() > Date.now() + 9 * 365 * 86_400_000, 'valid for ten years');
  // openssl is the reference parser; where it exists, it must read the DER the same way.
  const openssl = spawnSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', path.join(home, 'tls', 'cert.pem')], { encoding: 'utf8' });
  if (openssl.status === 0) t.match(openssl.stdout, first.fingerprint);

  const again = loadOrCreateMasterTls(home, { listenHost: '0.0.0.0', ...quiet });
  t.notOk(again.generated);
  t.equal(again.fingerprint, first.fingerprint, 'a restart keeps the certificate agents have pinned');
});

t.test('a generated key readable by others stops the master with the fix', async (t) => {
  const home = tmpHome(t);
  loadOrCreateMasterTls(home, { listenHost: '0.0.0.0', ...quiet });
  fs.chmodSync(path.join(home, 'tls', 'key.pem'), 0o644);
  t.throws(() => loadOrCreateMasterTls(home, { listenHost: '0.0.0.0', ...quiet }), /key\.pem is 644 .* impersonate the master; fix with: chown .* chmod 600/);
});

t.test("the admin's certificate and key are served as given, and must belong together", async (t) => {
  const home = tmpHome(t);
  const mine = createSelfSignedCertificate({ commonName: 'farm.example', names: ['farm.example'] });
  const other = createSelfSignedCertificate({ commonName: 'other', names: ['other'] });
  const certFile = path.join(home, 'farm.crt');
  const keyFile = path.join(home, 'farm.key');
  fs.writeFileSync(certFile, mine.certPem);
  fs.writeFileSync(keyFile, mine.keyPem, { mode: 0o600 });
  const warnings: string[] = [];
  const loaded = loadOrCreateMasterTls(home, { listenHost: '0.0.0.0', certFile, keyFile, warn: (m) => warnings.push(m) });
  t.equal(loaded.fingerprint, new X509Certificate(mine.certPem).fingerprint256);
  t.notOk(fs.existsSync(path.join(home, 'tls')), 'nothing generated');
  t.same(warnings, []);

  fs.writeFileSync(keyFile, other.keyPem);
  t.throws(() => loadOrCreateMasterTls(home, { listenHost: '0.0.0.0', certFile, keyFile, ...quiet }), /the TLS key does not belong to the certificate .*farm\.crt/);

  fs.writeFileSync(keyFile, mine.keyPem);
  fs.chmodSync(keyFile, 0o640);
  loadOrCreateMasterTls(home, { listenHost: '0.0.0.0', certFile, keyFile, warn: (m) => warnings.push(m) });
  t.match(warnings, [/farm\.key is 640 .* chmod 600 it/], 'a group-readable key of the admin is warned about');
});

t.test('TLS is automatic beyond loopback, and the flags say what they need', async (t) => {
  t.ok(isLoopbackHost('127.0.0.1'));
  t.ok(isLoopbackHost('127.1.2.3'));
  t.ok(isLoopbackHost('[::1]'));
  t.ok(isLoopbackHost('localhost'));
  t.notOk(isLoopbackHost('0.0.0.0'));
  t.notOk(isLoopbackHost('10.0.0.5'));
  t.notOk(isLoopbackHost('::'));
  t.equal(parseMasterOptions([], {}).tls, 'auto');
  t.equal(parseMasterOptions(['--tls'], {}).tls, 'on');
  t.equal(parseMasterOptions([], { QFARM_TLS: '1' }).tls, 'on');
  t.throws(() => parseMasterOptions(['--tls-cert', 'a.pem'], {}), /--tls-cert and --tls-key go together/);
});
