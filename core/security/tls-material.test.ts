// What a node reads for TLS, and the setting it names when a file is missing or the pair is wrong.

import { rm } from 'node:fs/promises';
import t from 'tap';
import { makeCerts } from '../../conformance/fixtures/certs.js';
import { clientTrust, readTlsMaterial } from './tls-material.js';

const certs = await makeCerts(['a', 'b']);
t.teardown(() => rm(certs.dir, { recursive: true, force: true }));
const a = await certs.node('a');
const b = await certs.node('b');

t.test('TLS off reads nothing', async (t) => {
  t.equal(readTlsMaterial({ enabled: false, cert_file: '/nonexistent', key_file: '/nonexistent', ca_file: '' }), undefined);
  t.strictSame(clientTrust(undefined), {});
});

t.test('a matching pair and the CA are read whole', async (t) => {
  const material = readTlsMaterial({ enabled: true, cert_file: a.certFile, key_file: a.keyFile, ca_file: a.caFile });
  t.ok(material?.cert.equals(a.cert) && material.key.equals(a.key) && material.ca?.equals(a.ca));
  t.ok(clientTrust(material).ca?.equals(a.ca), 'clients trust the cluster CA');
  t.equal(readTlsMaterial({ enabled: true, cert_file: a.certFile, key_file: a.keyFile, ca_file: '' })?.ca, undefined, 'no CA: public roots');
});

t.test('a missing file names its setting; a key of another certificate is refused', async (t) => {
  t.throws(() => readTlsMaterial({ enabled: true, cert_file: '/nonexistent/cert.pem', key_file: a.keyFile, ca_file: '' }), { name: 'TlsConfigError', message: /security.tls.cert_file \/nonexistent\/cert.pem: cannot read it \(ENOENT\)/ });
  t.throws(() => readTlsMaterial({ enabled: true, cert_file: a.certFile, key_file: a.keyFile, ca_file: '/nonexistent/ca.pem' }), { message: /security.tls.ca_file/ });
  t.throws(() => readTlsMaterial({ enabled: true, cert_file: a.certFile, key_file: b.keyFile, ca_file: '' }), { name: 'TlsConfigError', message: /^security.tls: .*key values mismatch/ });
  t.throws(() => readTlsMaterial({ enabled: true, cert_file: a.keyFile, key_file: a.keyFile, ca_file: '' }), { name: 'TlsConfigError' }, 'a key where the certificate belongs');
});
