// The codec gives back what it was given, and any bytes that are not a valid encoding (random,
// cut short, flipped) throw a CodecError: never another error, never a hang.

import t from 'tap';
import type { Entry, Message, MessageType, Snapshot } from '../core/types.js';
import {
  CodecError,
  DEFAULT_LIMITS,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
} from './codec.js';
import { prng } from '../../../conformance/fixtures/prng.js';

const SEED = Number(process.env.CODEC_SEED ?? Date.now() % 1_000_000);
t.comment(`seed ${SEED} (rerun with CODEC_SEED=${SEED})`);

const random = prng(SEED);
const int = (max: number) => Math.floor(random() * max);
const maybe = <T>(make: () => T): T | undefined => (random() < 0.5 ? make() : undefined);
const bytes = (max: number) => Uint8Array.from({ length: int(max) }, () => int(256));
const bigInt = () => [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, Number.MAX_SAFE_INTEGER][int(8)]! + (random() < 0.5 ? 0 : int(1000));
const safe = () => Math.min(bigInt(), Number.MAX_SAFE_INTEGER);
const text = () => ['', 'n1', 'node-é-ü', '🦙🦙', 'x'.repeat(int(200))][int(5)]!;
const TYPES: MessageType[] = ['propose', 'pre-vote', 'pre-vote-resp', 'vote', 'vote-resp', 'append', 'append-resp', 'heartbeat', 'heartbeat-resp', 'snapshot', 'read-index', 'read-index-resp', 'timeout-now'];

const entry = (): Entry => ({ index: safe(), term: safe(), type: random() < 0.5 ? 'normal' : 'config', data: bytes(64) });
const snapshot = (): Snapshot => ({
  meta: { index: safe(), term: safe(), conf: { members: Array.from({ length: int(5) }, () => ({ id: text(), address: `127.0.0.1:${int(65536)}`, voter: random() < 0.5 })) } },
  data: bytes(300),
});

function message(): Message {
  const m: Message = { type: TYPES[int(TYPES.length)]!, from: text(), to: text(), term: safe() };
  const set = <K extends keyof Message>(key: K, value: Message[K] | undefined) => {
    if (value !== undefined) m[key] = value;
  };
  set('index', maybe(safe));
  set('logTerm', maybe(safe));
  set('commit', maybe(safe));
  set('entries', maybe(() => Array.from({ length: int(6) }, entry)));
  set('reject', maybe(() => random() < 0.5));
  set('rejectHint', maybe(safe));
  set('snapshot', maybe(snapshot));
  set('context', maybe(text));
  return m;
}

/** Decoding either succeeds or throws a CodecError; anything else fails the test. */
function decodesCleanly(frame: Uint8Array): 'decoded' | 'refused' {
  try {
    decodeMessage(frame);
    return 'decoded';
  } catch (error) {
    if (error instanceof CodecError) return 'refused';
    throw error;
  }
}

t.test('messages round-trip, with every optional field present or absent', async (t) => {
  for (let i = 0; i < 500; i++) {
    const m = message();
    t.strictSame(decodeMessage(encodeMessage(m)), m, `message ${i}`);
  }
  const falseReject: Message = { type: 'append-resp', from: 'a', to: 'b', term: 3, reject: false };
  t.strictSame(decodeMessage(encodeMessage(falseReject)), falseReject, 'reject: false stays false, not absent');
});

t.test('entries, snapshots and hard states round-trip', async (t) => {
  for (let i = 0; i < 100; i++) {
    const e = entry();
    t.strictSame(decodeEntry(encodeEntry(e)), e);
    const s = snapshot();
    t.strictSame(decodeSnapshot(encodeSnapshot(s)), s);
  }
  t.strictSame(decodeHardState(encodeHardState({ term: 7, vote: 'n2', commit: 41 })), { term: 7, vote: 'n2', commit: 41 });
  t.strictSame(decodeHardState(encodeHardState({ term: 0, vote: null, commit: 0 })), { term: 0, vote: null, commit: 0 });
});

t.test('a small heartbeat is compact', async (t) => {
  const size = encodeMessage({ type: 'heartbeat', from: 'n1', to: 'n2', term: 12, commit: 300 }).length;
  t.ok(size <= 16, `heartbeat is ${size} bytes`);
});

t.test('encoding refuses what it cannot represent, naming the field', async (t) => {
  const base: Message = { type: 'append', from: 'a', to: 'b', term: 1 };
  t.throws(() => encodeMessage({ ...base, term: -1 }), { name: 'CodecError', message: /message\.term/ });
  t.throws(() => encodeMessage({ ...base, index: 1.5 }), { message: /message\.index/ });
  t.throws(() => encodeMessage({ ...base, term: 2 ** 53 }), { message: /message\.term/ });
  t.throws(() => encodeMessage({ ...base, type: 'nope' as MessageType }), { message: /message\.type/ });
  t.throws(() => encodeMessage({ ...base, from: 'x'.repeat(300) }), { message: /message\.from is 300 bytes/ });
  t.throws(() => encodeMessage({ ...base, entries: [{ index: 1, term: 1, type: 'normal', data: 'x' as unknown as Uint8Array }] }), { message: /entries\[0\]\.data/ });
  t.throws(() => encodeMessage({ ...base, entries: [{ index: 1, term: 1, type: 'normal', data: new Uint8Array(100) }] }, { ...DEFAULT_LIMITS, maxBytes: 50 }), { message: /more than 50/ });
});

t.test('decoding refuses bad fields with an error naming them', async (t) => {
  const good = encodeMessage({ type: 'heartbeat', from: 'a', to: 'b', term: 1 });
  const withVersion = Uint8Array.from(good);
  withVersion[0] = 9;
  t.throws(() => decodeMessage(withVersion), { name: 'CodecError', message: /version 9/ });
  const withType = Uint8Array.from(good);
  withType[1] = 200;
  t.throws(() => decodeMessage(withType), { message: /type has unknown code 200/ });
  t.throws(() => decodeMessage(Uint8Array.from([...good, 0])), { message: /1 bytes left over/ });
  const badUtf8 = Uint8Array.from([1, 0, 1, 0xff, 1, 0x62, 1, 0, 0]);
  t.throws(() => decodeMessage(badUtf8), { message: /from is not valid UTF-8/ });
  const longVarint = Uint8Array.from([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0]);
  t.throws(() => decodeMessage(longVarint), { message: /term is longer than a safe integer|beyond a safe integer/ });
  const padded = Uint8Array.from([1, 0, 0, 0, 0x81, 0x00, 0, 0]);
  t.throws(() => decodeMessage(padded), { message: /shortest form/ });
  const manyEntries = encodeMessage({ type: 'append', from: 'a', to: 'b', term: 1, entries: [] });
  manyEntries[manyEntries.length - 1] = 0x7f;
  t.throws(() => decodeMessage(manyEntries), { message: /entries length is 127, more than the bytes left/ });
  const unknownFlag = Uint8Array.from(good);
  unknownFlag[good.length - 2] = 0x80;
  t.throws(() => decodeMessage(unknownFlag), { message: /flags/ });
  t.throws(() => decodeMessage(new Uint8Array(DEFAULT_LIMITS.maxBytes + 1)), { message: /more than/ });
});

t.test('random bytes, cut-short and flipped frames only ever throw a CodecError', async (t) => {
  const deadline = Date.now() + 3000;
  let refused = 0;
  let cases = 0;
  for (let i = 0; i < 3000 && Date.now() < deadline; i++) {
    cases++;
    if (decodesCleanly(bytes(64)) === 'refused') refused++;
    const valid = encodeMessage(message());
    const cut = int(valid.length);
    if (decodesCleanly(valid.subarray(0, cut)) !== 'refused') t.fail(`a frame cut at ${cut} of ${valid.length} bytes decoded`);
    const flipped = Uint8Array.from(valid);
    flipped[int(flipped.length)]! ^= 1 << int(8);
    decodesCleanly(flipped);
    const lying = Uint8Array.from(valid);
    lying.set(bytes(8), int(Math.max(1, lying.length - 8)));
    decodesCleanly(lying);
  }
  t.ok(cases > 100, `${cases} cases ran`);
  t.ok(refused > cases / 2, `most random byte strings are refused (${refused} of ${cases})`);
});
