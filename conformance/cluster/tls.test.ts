// Three real node processes with certificates from `certs init`: the API speaks only HTTPS, the
// consensus port takes only a member certificate the cluster CA signed, and the official ollama and
// openai clients reach a model through a node that forwards to its holder over HTTPS.

import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { rm } from 'node:fs/promises';
import { connect } from 'node:tls';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import t from 'tap';
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import { createTiny } from '../../core/api/ollama/test-support.js';
import { makeCerts, type NodeCert } from '../fixtures/certs.js';
import { startCluster, waitUntil } from '../fixtures/cluster.js';

const certs = await makeCerts(['node-1', 'node-2', 'node-3']);
const stranger = await makeCerts(['node-2']);
t.teardown(() => Promise.all([rm(certs.dir, { recursive: true, force: true }), rm(stranger.dir, { recursive: true, force: true })]));
const ca = (await certs.node('node-1')).ca;

// This process's own fetches (the harness, the official clients) trust the cluster CA, as a user's
// would with NODE_EXTRA_CA_CERTS.
const previous = getGlobalDispatcher();
setGlobalDispatcher(new Agent({ connect: { ca } }));
t.teardown(() => setGlobalDispatcher(previous));

/** How a TLS handshake with the consensus port ends when the client shows `cert` (or none). */
function memberHandshake(port: number, cert: NodeCert | undefined): Promise<'admitted' | string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ca, checkServerIdentity: () => undefined, ...(cert ? { cert: cert.cert, key: cert.key } : {}) });
    socket.once('error', (error) => resolve(error.message));
    socket.once('close', () => resolve('closed by the server'));
    // TLS 1.3 gives the server's verdict on the client's certificate after the client is done: a
    // connection still open half a second later was admitted.
    socket.once('secureConnect', () => {
      socket.on('data', () => undefined);
      setTimeout(() => {
        resolve('admitted');
        socket.destroy();
      }, 500);
    });
  });
}

function plainHttp(port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/version' }, (res) => resolve(`answered ${res.statusCode}`));
    req.on('error', (error) => resolve(error.message));
    req.end();
  });
}

t.test('a TLS cluster: HTTPS only, member certificates on consensus, clients forwarded over HTTPS', async (t) => {
  const cluster = await startCluster({ size: 3, engine: 'sim', clusterKey: randomBytes(32).toString('base64url'), tlsDir: certs.dir, t });
  await cluster.waitForMembers(3, { timeoutMs: 30_000 });
  const [holder, entry] = cluster.nodes;
  t.match(entry.apiUrl, /^https:/);
  const status = await waitUntil(async () => {
    const statuses = await Promise.all([0, 1, 2].map((i) => cluster.status(i)));
    return statuses.every((s) => s.leader !== null && s.nodes.every((n) => (n as unknown as { role: string | null }).role !== null)) ? statuses : undefined;
  }, { timeoutMs: 30_000, what: 'one leader and all three in consensus, over TLS links' });
  t.equal(new Set(status.map((s) => JSON.stringify(s.leader))).size, 1, 'every node names the same leader');

  t.equal(await memberHandshake(entry.consensusPort, await certs.node('node-3')), 'admitted', "a member's certificate passes the consensus port's TLS");
  t.not(await memberHandshake(entry.consensusPort, undefined), 'admitted', 'no certificate: refused');
  t.not(await memberHandshake(entry.consensusPort, await stranger.node('node-2')), 'admitted', "another CA's certificate: refused");
  t.notMatch(await plainHttp(entry.apiPort), /^answered/, 'plain HTTP gets no answer from the API');

  await createTiny(holder.apiUrl, 'only-on-one');
  await waitUntil(async () => ((await cluster.status(1)) as unknown as { nodes: { name: string; models: string[] }[] }).nodes.some((n) => n.name === holder.name && n.models.includes('only-on-one:latest')) || undefined, {
    timeoutMs: 10_000,
    what: 'node-2 seeing the model on node-1',
  });
  const forwarded = await fetch(`${entry.apiUrl}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'only-on-one', prompt: 'hi', stream: false }) });
  t.equal(forwarded.status, 200);
  t.equal(forwarded.headers.get('x-served-by'), holder.name, 'node-2 forwarded to the holder over HTTPS');

  const ollama = new Ollama({ host: entry.apiUrl });
  const generated = await ollama.generate({ model: 'only-on-one', prompt: 'hello', options: { num_predict: 4 } });
  t.ok(generated.done && (generated.response ?? '').length > 0, 'the ollama client generates through node-2');
  const openai = new OpenAI({ baseURL: `${entry.apiUrl}/v1`, apiKey: 'unused' });
  const chat = await openai.chat.completions.create({ model: 'only-on-one', messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 });
  t.ok((chat.choices[0]?.message.content ?? '').length > 0, 'the openai client chats through node-2');
});
