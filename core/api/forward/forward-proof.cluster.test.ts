// In a keyed cluster a request marked as forwarded is served only when a member signed it: the
// forwards between nodes carry the proof, and one made up outside is refused before any engine runs.

import t from 'tap';
import { randomBytes } from 'node:crypto';
import { createTiny, post } from '../ollama/test-support.js';
import { forwardProof } from './forward-proof.js';
import { FORWARDED_HEADER } from './headers.js';
import { heldBy, startCluster } from './test-cluster.js';

const KEY = randomBytes(32).toString('base64url');
const BODY = JSON.stringify({ model: 'tiny', prompt: 'hi', stream: false, options: { num_predict: 2 } });

t.test('forwards between members carry a proof; one made outside the cluster is refused', async (t) => {
  const nodes = await startCluster(t, ['a', 'b'], { OLLAMA_P2P_CLUSTER_KEY: KEY });
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  await createTiny(b.url, 'tiny');
  await heldBy(nodes, 'tiny:latest', [b]);

  const forwarded = await post(a.url, '/api/generate', JSON.parse(BODY));
  t.equal(forwarded.status, 200, 'a forwards to b, which checks the proof and serves it');
  t.equal(forwarded.headers.get('x-served-by'), 'b');
  await forwarded.text();

  const send = (headers: Record<string, string>) =>
    fetch(`${b.url}/api/generate`, { method: 'POST', headers: { 'content-type': 'application/json', [FORWARDED_HEADER]: a.node.nodeId, ...headers }, body: BODY });
  const refusals: [string, Record<string, string>, RegExp][] = [
    ['no proof', {}, /carries no proof of a cluster member/],
    ['a proof made with another key', { 'x-ollama-distributed-proof': forwardProof(Buffer.from('not the key'), { origin: a.node.nodeId, method: 'POST', path: '/api/generate', body: Buffer.from(BODY) }, Date.now()) }, /does not hold for the cluster key/],
    ['a proof for another body', { 'x-ollama-distributed-proof': forwardProof(Buffer.from(KEY), { origin: a.node.nodeId, method: 'POST', path: '/api/generate', body: Buffer.from('{}') }, Date.now()) }, /does not hold/],
    ['an origin that is no member', { [FORWARDED_HEADER]: 'stranger', 'x-ollama-distributed-proof': forwardProof(Buffer.from(KEY), { origin: 'stranger', method: 'POST', path: '/api/generate', body: Buffer.from(BODY) }, Date.now()) }, /names no member/],
  ];
  for (const [what, headers, reason] of refusals) {
    const response = await send(headers);
    t.equal(response.status, 403, `${what}: 403`);
    t.match(((await response.json()) as { error: string }).error, reason, `${what}: says why`);
    t.equal(response.headers.get('x-served-by'), null, `${what}: no engine ran it`);
  }

  const proof = forwardProof(Buffer.from(KEY), { origin: a.node.nodeId, method: 'POST', path: '/api/generate', body: Buffer.from(BODY) }, Date.now());
  const signed = await send({ 'x-ollama-distributed-proof': proof });
  t.equal(signed.status, 200, 'a proof made with the cluster key for this request is accepted');
  await signed.text();
});
