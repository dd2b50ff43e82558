// The CLI against a node serving HTTPS with a certificate of the cluster's own CA: trusted through
// OLLAMA_SECURITY_TLS_CA_FILE, refused without it; `status` trusts the config's ca_file.

import { rm } from 'node:fs/promises';
import t from 'tap';
import { makeCerts } from '../../../conformance/fixtures/certs.js';
import { startTestNode } from '../../../conformance/fixtures/node.js';
import { runCli } from './test-cli.js';

const certs = await makeCerts(['node-1']);
const cert = await certs.node('node-1');
const tls = { OLLAMA_SECURITY_TLS_ENABLED: 'true', OLLAMA_SECURITY_TLS_CERT_FILE: cert.certFile, OLLAMA_SECURITY_TLS_KEY_FILE: cert.keyFile, OLLAMA_SECURITY_TLS_CA_FILE: cert.caFile };
const node = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', ...tls } });
t.teardown(async () => {
  await node.stop();
  await rm(certs.dir, { recursive: true, force: true });
});

t.test('the node serves HTTPS', async (t) => {
  t.match(node.url, /^https:\/\/127\.0\.0\.1:\d+$/);
});

t.test('OLLAMA_SECURITY_TLS_CA_FILE lets the CLI trust the node; without it the CLI says why it cannot connect', async (t) => {
  const trusted = await runCli(['list'], { OLLAMA_HOST: node.url, OLLAMA_SECURITY_TLS_CA_FILE: cert.caFile });
  t.equal(trusted.code, 0, trusted.stderr);
  t.match(trusted.stdout, /NAME/);
  const untrusted = await runCli(['list'], { OLLAMA_HOST: node.url });
  t.not(untrusted.code, 0);
  t.match(untrusted.stderr, /could not connect to ollama-distributed at https:\/\/127\.0\.0\.1:\d+.*(certificate|verify)/i);
  const missing = await runCli(['list'], { OLLAMA_HOST: node.url, OLLAMA_SECURITY_TLS_CA_FILE: '/nonexistent/ca.pem' });
  t.match(missing.stderr, /cannot read the CA file \/nonexistent\/ca.pem/);
});

t.test('status reads the node config and trusts its ca_file', async (t) => {
  const port = new URL(node.url).port;
  const status = await runCli(['status', '--listen', `127.0.0.1:${port}`], tls);
  t.equal(status.code, 0, status.stderr);
  t.match(status.stdout, /status\s+healthy/);
});
