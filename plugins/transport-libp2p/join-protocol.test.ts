// The join handshake's rules: what refuses a hello, and that a proof fits only its own key and
// transcript.

import { randomBytes } from 'node:crypto';
import t from 'tap';
import { helloRefusal, joinProof, makeHello, parseJoinMessage, proofHolds, type JoinIdentity, type Transcript } from './join-protocol.js';

const key = randomBytes(32);
const keyed: JoinIdentity = { peerId: 'peer-a', protocol: 1, version: '0.1.0', clusterKey: key };
const open: JoinIdentity = { ...keyed, clusterKey: undefined };

t.test('hellos refused before any proof', async (t) => {
  t.equal(helloRefusal(keyed, makeHello(keyed)), undefined, 'same protocol, both keyed');
  t.equal(helloRefusal(open, makeHello(open)), undefined, 'same protocol, both open');
  t.equal(helloRefusal(keyed, makeHello({ ...keyed, protocol: 2 })), 'protocol');
  t.equal(helloRefusal(keyed, makeHello(open)), 'no-key');
  t.equal(helloRefusal(open, makeHello(keyed)), 'unexpected-key');
  const hello = makeHello(keyed);
  t.match(hello.nonce, /^[0-9a-f]{64}$/, '32 random bytes');
  t.not(hello.nonce, makeHello(keyed).nonce, 'fresh each time');
  t.notOk(JSON.stringify(hello).includes(key.toString('hex')), 'the key never travels');
});

t.test('a proof holds only for the same key, role and transcript', async (t) => {
  const transcript: Transcript = { initiatorId: 'peer-a', responderId: 'peer-b', initiator: makeHello(keyed), responder: makeHello(keyed) };
  const proof = joinProof(key, 'initiator', transcript);
  t.ok(proofHolds(key, 'initiator', transcript, proof));
  t.notOk(proofHolds(randomBytes(32), 'initiator', transcript, proof), 'another key');
  t.notOk(proofHolds(key, 'responder', transcript, proof), 'the other role: a proof cannot be reflected back');
  t.notOk(proofHolds(key, 'initiator', { ...transcript, responderId: 'peer-c' }, proof), 'another peer');
  t.notOk(proofHolds(key, 'initiator', { ...transcript, responder: makeHello(keyed) }, proof), 'another nonce');
  t.notOk(proofHolds(key, 'initiator', { ...transcript, initiator: { ...transcript.initiator, version: '9.9.9' } }, proof), 'another version');
  t.ok(proofHolds(undefined, 'initiator', transcript, ''), 'no key: the empty proof');
  t.notOk(proofHolds(undefined, 'initiator', transcript, proof), 'no key: a real proof is not accepted');
});

t.test('only well-formed messages parse', async (t) => {
  t.same(parseJoinMessage('{"type":"admit"}'), { type: 'admit' });
  t.same(parseJoinMessage('{"type":"refuse","reason":"cluster-key","protocol":1}'), { type: 'refuse', reason: 'cluster-key', protocol: 1 });
  for (const line of ['', 'null', '[]', '{"type":"hello","protocol":1,"version":"x","nonce":"00","keyed":true}', '{"type":"proof","proof":"zz"}', '{"type":"refuse","reason":"because","protocol":1}', '{"type":"welcome"}']) {
    t.equal(parseJoinMessage(line), undefined, `refused: ${line}`);
  }
});
