// certs init against openssl itself: each node's certificate verifies against the CA (openssl
// verify), holds its names, serves a real TLS handshake, and nothing is replaced unasked.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { createServer, connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { CA_CERT, type CertsPlan, certFile, initCerts, keyFile, subjectAltNames } from './certs.js';

const run = promisify(execFile);

async function folder(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'od-certs-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Whether a client trusting `ca` completes a handshake with a server showing `cert`, reaching it as `servername`. */
async function handshake(cert: Buffer, key: Buffer, ca: Buffer, servername: string): Promise<string | undefined> {
  const server = createServer({ cert, key }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    return await new Promise<string | undefined>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, ca, servername }, () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.on('error', (error) => resolve(error.message));
    });
  } finally {
    server.close();
  }
}

t.test('a CA and one certificate per node, each verified by openssl and by a TLS handshake', async (t) => {
  const dir = await folder(t);
  const result = await initCerts({ dir, nodes: ['node-1', 'node-2'], hosts: ['10.1.2.3', 'gpu-7.example.net'], days: 30, force: false });
  t.ok(result.caCreated, 'a new CA');
  t.strictSame((await readdir(dir)).sort(), ['ca-cert.pem', 'ca-key.pem', 'node-1-cert.pem', 'node-1-key.pem', 'node-2-cert.pem', 'node-2-key.pem'], 'only the files it names, no temp folder left');
  for (const node of ['node-1', 'node-2']) {
    const { stdout } = await run('openssl', ['verify', '-CAfile', join(dir, CA_CERT), join(dir, certFile(node))]);
    t.match(stdout, /: OK/, `${node}: openssl verifies it against the CA`);
    const { stdout: text } = await run('openssl', ['x509', '-in', join(dir, certFile(node)), '-noout', '-text']);
    for (const name of [`DNS:${node}`, 'DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:10.1.2.3', 'DNS:gpu-7.example.net']) t.ok(text.includes(name), `${node} holds ${name}`);
    t.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/, `${node} serves and dials`);
    t.equal((await stat(join(dir, keyFile(node)))).mode & 0o777, 0o600, `${node}'s key is private to its owner`);
  }
  t.equal((await stat(join(dir, 'ca-key.pem'))).mode & 0o777, 0o600, "the CA's key is private to its owner");
  const [cert, key, ca] = await Promise.all([readFile(join(dir, certFile('node-1'))), readFile(join(dir, keyFile('node-1'))), readFile(join(dir, CA_CERT))]);
  t.equal(await handshake(cert, key, ca, 'node-1'), undefined, 'a client trusting the CA accepts node-1 by name');
  t.equal(await handshake(cert, key, ca, 'localhost'), undefined, '... and as localhost');
  t.match(await handshake(cert, key, ca, 'node-9'), /node-9/, 'a name the certificate lacks is refused');
});

t.test('a second run keeps the CA, adds a node, and replaces nothing unasked', async (t) => {
  const dir = await folder(t);
  await initCerts({ dir, nodes: ['node-1'], hosts: [], days: 30, force: false });
  const before = { ca: await readFile(join(dir, CA_CERT)), node1: await readFile(join(dir, certFile('node-1'))) };
  await t.rejects(initCerts({ dir, nodes: ['node-1'], hosts: [], days: 30, force: false }), { name: 'CertsError', message: /already holds node-1-cert.pem, node-1-key.pem; pass --force/ });
  t.ok((await readFile(join(dir, certFile('node-1')))).equals(before.node1), 'node-1 untouched');
  const added = await initCerts({ dir, nodes: ['node-2'], hosts: [], days: 30, force: false });
  t.notOk(added.caCreated, 'the CA is reused');
  t.ok((await readFile(join(dir, CA_CERT))).equals(before.ca), 'the CA file is unchanged');
  const { stdout } = await run('openssl', ['verify', '-CAfile', join(dir, CA_CERT), join(dir, certFile('node-2'))]);
  t.match(stdout, /: OK/, 'the new node chains to the same CA');
  await initCerts({ dir, nodes: ['node-1'], hosts: [], days: 30, force: true });
  t.notOk((await readFile(join(dir, certFile('node-1')))).equals(before.node1), '--force replaces the node');
  t.ok((await readFile(join(dir, CA_CERT))).equals(before.ca), '... and keeps the CA');
});

t.test('bad input is refused before anything is written', async (t) => {
  const dir = await folder(t);
  for (const [plan, message] of [
    [{ nodes: [] }, /at least one node/],
    [{ nodes: ['a b'] }, /node name "a b"/],
    [{ nodes: ['../x'] }, /node name/],
    [{ nodes: ['n', 'n'] }, /named once/],
    [{ nodes: ['n'], hosts: ['bad host!'] }, /neither an IP address nor a DNS name/],
    [{ nodes: ['n'], days: 0 }, /--days/],
  ] as [Partial<CertsPlan>, RegExp][]) {
    await t.rejects(initCerts({ dir, nodes: [], hosts: [], days: 30, force: false, ...plan }), { name: 'CertsError', message }, JSON.stringify(plan));
  }
  t.strictSame(await readdir(dir), [], 'nothing written');
});

t.test('without openssl on the PATH it says what to install', async (t) => {
  const dir = await folder(t);
  const path = process.env.PATH;
  process.env.PATH = dir;
  t.teardown(() => void (process.env.PATH = path));
  await t.rejects(initCerts({ dir, nodes: ['n'], hosts: [], days: 30, force: false }), { name: 'CertsError', message: /needs the openssl command/ });
  t.strictSame(await readdir(dir), [], 'no partial files');
});

t.test('names and addresses in subjectAltName', async (t) => {
  t.equal(subjectAltNames('n1', ['10.0.0.1', 'fe80::1', 'h.example']), 'DNS:n1,DNS:localhost,IP:127.0.0.1,IP:::1,IP:10.0.0.1,IP:fe80::1,DNS:h.example');
  t.equal(subjectAltNames('localhost', ['127.0.0.1']), 'DNS:localhost,IP:127.0.0.1,IP:::1', 'no duplicates');
});
