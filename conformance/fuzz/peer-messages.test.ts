// Every message a peer can send before or after it is admitted, fuzzed: gossip announcements, the
// libp2p join handshake, the Raft transport handshake and the proposals in Raft log entries. Each
// decoder returns a checked value or a refusal; none throws, and what it accepts is what it encodes.

import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import { decodeAnnouncement, encodeAnnouncement } from '../../core/cluster/announcement.js';
import { announcement, heldModel } from '../../core/cluster/test-support.js';
import { decodeEnvelope, encodeEnvelope } from '../../plugins/consensus-raft/envelope.js';
import { encodeHandshake, parseHandshake } from '../../plugins/consensus-raft/io/handshake.js';
import { parseJoinMessage } from '../../plugins/transport-libp2p/join-protocol.js';
import { anyJson, fuzz, jsonBytes, mutatedBytes, mutatedJson } from '../fixtures/fuzz.js';

/** What was accepted reads back the same through its own encoding. */
function same(actual: unknown, expected: unknown, what: string): void {
  if (!isDeepStrictEqual(actual, expected)) throw new Error(`${what} changed through its own encoding: ${JSON.stringify(actual)?.slice(0, 300)} vs ${JSON.stringify(expected)?.slice(0, 300)}`);
}

const validAnnouncement = fc
  .record({
    id: fc.string({ minLength: 1, maxLength: 20 }),
    models: fc.array(fc.constantFrom('tiny:latest', 'me/chat:7b', 'host.io/a/b:c'), { maxLength: 3 }),
    inFlight: fc.nat({ max: 100 }),
    gpus: fc.array(fc.record({ name: fc.string({ minLength: 1, maxLength: 10 }), backend: fc.constantFrom('cuda', 'metal', 'vulkan'), vramTotal: fc.nat(), vramFree: fc.nat() }), { maxLength: 2 }),
  })
  .map(({ id, models, inFlight, gpus }) =>
    announcement(id, { models: models.map((name) => heldModel(name)), gpus: gpus.map((gpu) => ({ ...gpu })), load: { ...announcement(id).load, inFlight } }),
  );

t.test('gossip announcements', async (t) => {
  const check = (bytes: Uint8Array) => {
    const decoded = decodeAnnouncement(bytes);
    if (!decoded.ok) {
      if (typeof decoded.reason !== 'string' || decoded.reason === '') throw new Error('a refusal without a reason');
      return;
    }
    const again = decodeAnnouncement(encodeAnnouncement(decoded.announcement));
    if (!again.ok) throw new Error(`accepted, but its own encoding is refused: ${again.reason}`);
    same(again.announcement, decoded.announcement, 'announcement');
  };
  fuzz(t, 'valid announcements are accepted as sent', validAnnouncement, (a) => {
    const decoded = decodeAnnouncement(encodeAnnouncement(a));
    if (!decoded.ok) throw new Error(decoded.reason);
    same(decoded.announcement, a, 'announcement');
  }, { timeMs: 600 });
  fuzz(t, 'announcements with a field changed, removed or added', mutatedJson(validAnnouncement).map(jsonBytes), check);
  fuzz(t, 'any JSON', anyJson.map(jsonBytes), check, { timeMs: 600 });
  fuzz(t, 'damaged bytes', mutatedBytes(validAnnouncement.map(encodeAnnouncement)), check, { timeMs: 800 });
});

const nonce = fc.stringMatching(/^[0-9a-f]{64}$/);

t.test('raft transport handshake', async (t) => {
  const hello = fc.record({ type: fc.constant('hello' as const), protocol: fc.nat(), nodeId: fc.string({ minLength: 1, maxLength: 20 }), clusterId: fc.option(fc.string({ minLength: 1, maxLength: 20 })), address: fc.constant('127.0.0.1:7000'), nonce, keyed: fc.boolean() });
  const check = (bytes: Uint8Array) => {
    const parsed = parseHandshake(bytes);
    if (parsed !== undefined) same(parseHandshake(encodeHandshake(parsed)), parsed, 'handshake');
  };
  fuzz(t, 'hellos with a field changed', mutatedJson(hello).map(jsonBytes), check);
  fuzz(t, 'any JSON', anyJson.map(jsonBytes), check, { timeMs: 500 });
  fuzz(t, 'random bytes', fc.uint8Array({ maxLength: 200 }), check, { timeMs: 500 });
});

t.test('libp2p join handshake', async (t) => {
  const hello = fc.record({ type: fc.constant('hello'), protocol: fc.nat(), version: fc.string({ maxLength: 10 }), nonce, keyed: fc.boolean() });
  const check = (line: string) => {
    const parsed = parseJoinMessage(line);
    if (parsed !== undefined) same(parseJoinMessage(JSON.stringify(parsed)), parsed, 'join message');
  };
  fuzz(t, 'hellos with a field changed', mutatedJson(hello).map((v) => JSON.stringify(v) ?? 'null'), check);
  fuzz(t, 'any JSON', anyJson.map((v) => JSON.stringify(v) ?? 'null'), check, { timeMs: 500 });
  fuzz(t, 'any text', fc.string({ maxLength: 200 }), check, { timeMs: 500 });
});

t.test('proposals in raft log entries', async (t) => {
  const envelope = fc.record({ id: fc.string({ minLength: 1 }), command: fc.record({ type: fc.string({ minLength: 1 }), payload: anyJson }) });
  const check = (bytes: Uint8Array) => {
    const decoded = decodeEnvelope(bytes);
    if (decoded !== undefined && (typeof decoded.id !== 'string' || typeof decoded.command.type !== 'string')) throw new Error('accepted an envelope without an id and a type');
  };
  fuzz(t, 'valid envelopes are accepted as sent', envelope, (e) => same(decodeEnvelope(encodeEnvelope(e)), JSON.parse(JSON.stringify(e)), 'envelope'), { timeMs: 500 });
  fuzz(t, 'envelopes with a field changed', mutatedJson(envelope).map(jsonBytes), check, { timeMs: 500 });
  fuzz(t, 'damaged bytes', mutatedBytes(envelope.map(encodeEnvelope)), check, { timeMs: 500 });
});
