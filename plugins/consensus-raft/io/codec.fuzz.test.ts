// What a peer or a damaged disk can hand the codec: random bytes and valid encodings with bytes
// changed, cut or added. A decode returns a value that encodes back to the same bytes, or throws a
// CodecError naming the field; nothing else.

import fc from 'fast-check';
import t from 'tap';
import { fuzz, mutatedBytes } from '../../../conformance/fixtures/fuzz.js';
import { MESSAGE_TYPES, type Entry, type HardState, type Message, type Snapshot } from '../core/types.js';
import { CodecError, decodeEntry, decodeHardState, decodeMessage, decodeSnapshot, encodeEntry, encodeHardState, encodeMessage, encodeSnapshot } from './codec.js';

const id = fc.string({ minLength: 1, maxLength: 24 });
const index = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
const bytes = fc.uint8Array({ maxLength: 64 });
const entry: fc.Arbitrary<Entry> = fc.record({ index, term: index, type: fc.constantFrom('normal' as const, 'config' as const), data: bytes });
const snapshot: fc.Arbitrary<Snapshot> = fc.record({
  meta: fc.record({ index, term: index, conf: fc.record({ members: fc.array(fc.record({ id, address: fc.string({ maxLength: 40 }), voter: fc.boolean() }), { maxLength: 5 }) }) }),
  data: bytes,
});
const message: fc.Arbitrary<Message> = fc.record(
  {
    type: fc.constantFrom(...MESSAGE_TYPES),
    from: id,
    to: id,
    term: index,
    index,
    logTerm: index,
    commit: index,
    entries: fc.array(entry, { maxLength: 4 }),
    reject: fc.boolean(),
    rejectHint: index,
    snapshot,
    context: fc.string({ maxLength: 40 }),
  },
  { requiredKeys: ['type', 'from', 'to', 'term'] },
);
const hardState: fc.Arbitrary<HardState> = fc.record({ term: index, vote: fc.option(id), commit: index });

interface Codec<T> {
  name: string;
  valid: fc.Arbitrary<T>;
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

const codecs: Codec<never>[] = [
  { name: 'message', valid: message, encode: encodeMessage, decode: decodeMessage },
  { name: 'entry', valid: entry, encode: encodeEntry, decode: decodeEntry },
  { name: 'snapshot', valid: snapshot, encode: encodeSnapshot, decode: decodeSnapshot },
  { name: 'hard state', valid: hardState, encode: encodeHardState, decode: decodeHardState },
] as unknown as Codec<never>[];

/** A decode gives back a value that encodes to the bytes it came from, or a CodecError. */
function decodesFaithfullyOrRefuses<T>(codec: Codec<T>, input: Uint8Array): void {
  let decoded: T;
  try {
    decoded = codec.decode(input);
  } catch (error) {
    if (error instanceof CodecError) return;
    throw new Error(`${codec.name}: ${(error as Error).name} instead of a CodecError: ${(error as Error).message}`);
  }
  const again = codec.encode(decoded);
  if (!Buffer.from(again).equals(Buffer.from(input))) throw new Error(`${codec.name}: decoded ${input.length} bytes to a value that encodes to ${again.length} other bytes`);
}

for (const codec of codecs) {
  t.test(`raft ${codec.name} codec`, async (t) => {
    fuzz(t, 'valid values round-trip', codec.valid, (value) => decodesFaithfullyOrRefuses(codec, codec.encode(value)), { timeMs: 800 });
    fuzz(t, 'random bytes decode or are refused', fc.uint8Array({ maxLength: 256 }), (input) => decodesFaithfullyOrRefuses(codec, input), { timeMs: 800 });
    fuzz(t, 'damaged valid encodings decode or are refused', mutatedBytes(codec.valid.map((v) => codec.encode(v))), (input) => decodesFaithfullyOrRefuses(codec, input), { timeMs: 1200 });
  });
}
