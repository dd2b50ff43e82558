// The handshake's rules without sockets: proofs bind both nonces, both ids and the prover's role,
// frame tags bind their sequence number, and only well-formed handshake frames parse.

import { randomBytes } from 'node:crypto';
import t from 'tap';
import { frame, FrameReader, FrameTooLarge } from './frames.js';
import { frameKey, frameTag, helloRefusal, makeHello, parseHandshake, proof, proofHolds, tagHolds, type Hello, type Identity } from './handshake.js';

const key = randomBytes(32);
const a: Identity = { nodeId: 'a', clusterId: 'c1', address: '10.0.0.1:7000', clusterKey: key };
const b: Identity = { nodeId: 'b', clusterId: 'c1', address: '10.0.0.2:7000', clusterKey: key };

t.test('a proof holds only for its role, its nonces, its ids and its key', async (t) => {
  const transcript = { initiator: makeHello(a), responder: makeHello(b) };
  const mine = proof(key, 'initiator', transcript);
  t.ok(proofHolds(key, 'initiator', transcript, mine));
  t.notOk(proofHolds(key, 'responder', transcript, mine), 'a proof reflected back as the other role fails');
  t.notOk(proofHolds(randomBytes(32), 'initiator', transcript, mine), 'another key fails');
  const otherNonce: Hello = { ...transcript.responder, nonce: randomBytes(32).toString('hex') };
  t.notOk(proofHolds(key, 'initiator', { ...transcript, responder: otherNonce }, mine), 'a proof replayed on another connection fails');
  t.notOk(proofHolds(key, 'initiator', { ...transcript, initiator: { ...transcript.initiator, nodeId: 'z' } }, mine), 'a proof for another node id fails');
  t.notOk(proofHolds(key, 'initiator', { ...transcript, initiator: { ...transcript.initiator, address: '10.0.0.9:7000' } }, mine), 'a proof for another address fails');
  t.notOk(proofHolds(key, 'initiator', transcript, ''), 'an empty proof fails when keyed');
  t.ok(proofHolds(undefined, 'initiator', transcript, ''), 'an open cluster proves nothing');
  t.notOk(proofHolds(undefined, 'initiator', transcript, mine));
});

t.test('a frame tag holds only at its sequence number and direction', async (t) => {
  const transcript = { initiator: makeHello(a), responder: makeHello(b) };
  const sendKey = frameKey(key, 'initiator', transcript)!;
  const payload = Buffer.from('append');
  const tag = frameTag(sendKey, 3, payload);
  t.ok(tagHolds(sendKey, 3, payload, tag));
  t.notOk(tagHolds(sendKey, 4, payload, tag), 'a frame replayed later fails');
  t.notOk(tagHolds(frameKey(key, 'responder', transcript)!, 3, payload, tag), 'a frame reflected the other way fails');
  t.notOk(tagHolds(sendKey, 3, Buffer.from('appenD'), tag));
  t.equal(frameKey(undefined, 'initiator', transcript), undefined);
});

t.test('hellos are refused for protocol, key presence and node identity', async (t) => {
  const hello = makeHello(b);
  t.equal(helloRefusal(a, hello, 'b'), undefined);
  t.equal(helloRefusal(a, { ...hello, protocol: 2 }), 'protocol');
  t.equal(helloRefusal(a, { ...hello, keyed: false }), 'no-key');
  t.equal(helloRefusal({ ...a, clusterKey: undefined }, hello), 'unexpected-key');
  t.equal(helloRefusal(a, hello, 'x'), 'wrong-node');
  t.equal(helloRefusal(a, makeHello(a)), 'wrong-node', 'a node never admits itself');
});

t.test('only well-formed handshake frames parse', async (t) => {
  const hello = makeHello(a);
  t.strictSame(parseHandshake(Buffer.from(JSON.stringify(hello))), hello);
  const bad = [
    'not json',
    '[]',
    'null',
    JSON.stringify({ ...hello, nonce: 'abc' }),
    JSON.stringify({ ...hello, nodeId: '' }),
    JSON.stringify({ ...hello, nodeId: 'x'.repeat(257) }),
    JSON.stringify({ ...hello, clusterId: 5 }),
    JSON.stringify({ ...hello, keyed: 'yes' }),
    JSON.stringify({ type: 'proof', proof: 'zz' }),
    JSON.stringify({ type: 'refuse', reason: 'because', nodeId: 'a', clusterId: null }),
    JSON.stringify({ type: 'other' }),
  ];
  for (const text of bad) t.equal(parseHandshake(Buffer.from(text)), undefined, text.slice(0, 60));
  t.strictSame(parseHandshake(Buffer.from(JSON.stringify({ type: 'refuse', reason: 'cluster-mismatch', nodeId: 'b', clusterId: 'c2' }))), {
    type: 'refuse',
    reason: 'cluster-mismatch',
    nodeId: 'b',
    clusterId: 'c2',
  });
});

t.test('frames come back whole however the stream is cut, and an oversize length is refused up front', async (t) => {
  const payloads = [Buffer.alloc(0), Buffer.from('one'), randomBytes(1000), Buffer.from('last')];
  const stream = Buffer.concat(payloads.map((payload) => frame(payload)));
  for (const size of [1, 2, 3, 5, 7, 64, stream.length]) {
    const reader = new FrameReader(2000);
    const out: Buffer[] = [];
    for (let at = 0; at < stream.length; at += size) {
      reader.push(stream.subarray(at, at + size));
      for (let next = reader.next(); next !== undefined; next = reader.next()) out.push(Buffer.from(next));
    }
    t.strictSame(out, payloads, `chunks of ${size}`);
  }
  const reader = new FrameReader(999);
  reader.push(frame(Buffer.alloc(1000)).subarray(0, 4));
  t.throws(() => reader.next(), FrameTooLarge);
});
