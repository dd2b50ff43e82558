import t from 'tap';
import { PROOF_WINDOW_MS, forwardProof, proofProblem } from './forward-proof.js';

const key = Buffer.from('a cluster key of the right length!!');
const request = { origin: 'node-a', method: 'POST', path: '/api/chat', body: Buffer.from('{"model":"tiny"}') };
const now = 1_764_000_000_000;

t.test('a proof made with the cluster key holds for the same request', async (t) => {
  t.equal(proofProblem(key, forwardProof(key, request, now), request, now + 1000), undefined);
  t.equal(proofProblem(key, forwardProof(key, { ...request, body: undefined }, now), { ...request, body: new Uint8Array() }, now), undefined, 'no body is an empty body');
});

t.test('anything changed, another key, no proof or an old one is refused', async (t) => {
  const proof = forwardProof(key, request, now);
  t.match(proofProblem(key, undefined, request, now), /carries no proof/);
  t.match(proofProblem(key, 'x', request, now), /malformed/);
  t.match(proofProblem(key, proof, { ...request, origin: 'node-b' }, now), /does not hold/);
  t.match(proofProblem(key, proof, { ...request, path: '/api/generate' }, now), /does not hold/);
  t.match(proofProblem(key, proof, { ...request, method: 'DELETE' }, now), /does not hold/);
  t.match(proofProblem(key, proof, { ...request, body: Buffer.from('{"model":"big"}') }, now), /does not hold/);
  t.match(proofProblem(Buffer.from('another key'), proof, request, now), /does not hold/);
  t.match(proofProblem(key, proof, request, now + PROOF_WINDOW_MS + 1), /s from this node's clock/);
  t.match(proofProblem(key, proof.replace(/^\d+/, String(now + 1)), request, now), /does not hold/, 'the time is signed too');
});
