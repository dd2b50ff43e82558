import fc from 'fast-check';
import t from 'tap';
import { prng } from '../../conformance/fixtures/prng.js';
import { haveBitmap, PiecePicker, type ChunkRequest, type PiecePickerOptions } from './piece-picker.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const picker = (chunkCount: number, options: Partial<PiecePickerOptions> = {}) =>
  new PiecePicker({ chunkCount, maxInFlightPerPeer: 1, maxBadChunks: 2, requestTimeoutMs: 100, random: prng(1), ...options });
const pairs = (requests: ChunkRequest[]) => requests.map(({ peer, chunk }) => `${peer}:${chunk}`).sort();

t.test('have-bitmaps', async (t) => {
  t.same([...haveBitmap(10, [0, 7, 9])], [0b1000_0001, 0b0100_0000], 'BitTorrent bit order');
  const p = picker(10);
  t.throws(() => p.announce('a', new Uint8Array(1)), { code: 'OD_ERR_BAD_REQUEST', message: /peer a .* 1 bytes/ }, 'wrong length');
  t.throws(() => p.announce('a', Uint8Array.of(0, 0b0010_0000)), { message: /past the blob's 10/ }, 'a spare bit set');
  t.throws(() => p.gained('b', 1), { code: 'OD_ERR_BAD_REQUEST' }, 'a chunk before a bitmap');
  t.throws(() => haveBitmap(10, [10]), RangeError);
});

t.test('rarest first: a peer is asked for the chunk fewest peers hold', async (t) => {
  const p = picker(3);
  p.announce('a', haveBitmap(3, [0, 1, 2]));
  p.announce('b', haveBitmap(3, [0, 1]));
  p.announce('c', haveBitmap(3, [0]));
  // c can only serve 0, b's rarest is 1, a's rarest is 2: every peer busy, no duplicates.
  t.same(pairs(p.next(0)), ['a:2', 'b:1', 'c:0']);
  t.same(p.next(1), [], 'nothing more while every peer is at its cap and nothing is left');
});

t.test('held chunks are never asked for; a resumed picker starts with them', async (t) => {
  const p = picker(4, { held: [0, 2], maxInFlightPerPeer: 4 });
  p.announce('a', haveBitmap(4, range(4)));
  t.equal(p.missing, 2);
  t.same(pairs(p.next(0)), ['a:1', 'a:3']);
});

t.test('ties are broken by the injected random: same seed, same choices', async (t) => {
  const run = (seed: number) => {
    const p = picker(64, { random: prng(seed) });
    p.announce('a', haveBitmap(64, range(64)));
    const order: number[] = [];
    while (!p.done) {
      const [request] = p.next(0);
      order.push(request!.chunk);
      p.received('a', request!.chunk, true);
    }
    return order;
  };
  t.same(run(7), run(7), 'repeatable');
  t.not(run(7).join(), run(8).join(), 'another seed picks another order');
  t.not(run(7).join(), range(64).join(), 'not simply in order');
});

t.test('endgame: the last chunk is asked of a second peer, and the slower request is cancelled', async (t) => {
  const p = picker(1);
  p.announce('a', haveBitmap(1, [0]));
  p.announce('b', haveBitmap(1, [0]));
  const first = p.next(0);
  t.equal(first.length, 2, 'both peers asked at once once the only chunk is in flight');
  const [winner, loser] = first as [ChunkRequest, ChunkRequest];
  t.same(p.received(winner.peer, 0, true), [{ peer: loser.peer, chunk: 0, sentAt: 0 }], 'the other request is to cancel');
  t.ok(p.done);
  t.same(p.received(loser.peer, 0, true), [], 'a late duplicate changes nothing');
  t.equal(p.peer(loser.peer)!.inFlight, 0);
});

t.test('no endgame while an unrequested chunk is left', async (t) => {
  const p = picker(2, { maxInFlightPerPeer: 2 });
  p.announce('a', haveBitmap(2, [0, 1]));
  p.announce('b', haveBitmap(2, [0]));
  const requests = p.next(0);
  t.same(pairs(requests), ['a:1', 'b:0', ...(requests.length === 3 ? ['a:0'] : [])].sort(), 'chunk 1 goes to a, the only holder');
  t.equal(requests.filter((r) => r.chunk === 1).length, 1, 'no duplicate of chunk 1 (only a holds it)');
});

t.test('a bad chunk goes back to missing; after maxBadChunks the peer is banned', async (t) => {
  const p = picker(2, { maxBadChunks: 2 });
  p.announce('liar', haveBitmap(2, [0, 1]));
  const [first] = p.next(0);
  t.same(p.received('liar', first!.chunk, false), [], 'one bad chunk: not yet banned');
  t.notOk(p.has(first!.chunk), 'the chunk is missing again');
  t.same(p.peer('liar'), { inFlight: 0, badChunks: 1, lapses: 0, banned: false });
  const [second] = p.next(1);
  t.ok(second, 'asked again');
  p.received('liar', second!.chunk, false);
  t.equal(p.peer('liar')!.banned, true, 'banned at the second bad chunk');
  t.same(p.next(2), [], 'a banned peer is not asked');
  p.announce('liar', haveBitmap(2, [0, 1]));
  p.removePeer('liar');
  p.announce('liar', haveBitmap(2, [0, 1]));
  t.same(p.next(3), [], 'nor after it announces again or reconnects');
  p.announce('honest', haveBitmap(2, [0, 1]));
  t.equal(p.next(4)[0]!.peer, 'honest');
});

t.test('a peer that times out frees its requests; a failed request frees one', async (t) => {
  const p = picker(4, { maxInFlightPerPeer: 2, requestTimeoutMs: 100 });
  p.announce('slow', haveBitmap(4, [0, 1]));
  t.equal(p.next(0).length, 2);
  t.same(p.expire(99), [], 'not yet');
  t.same(pairs(p.expire(100)), ['slow:0', 'slow:1'], 'both requests freed at the deadline');
  t.same(p.peer('slow'), { inFlight: 0, badChunks: 0, lapses: 1, banned: false });
  p.announce('fast', haveBitmap(4, [0, 1, 2, 3]));
  const again = p.next(200);
  t.ok(again.some((r) => r.peer === 'fast'), 'the chunks are asked again');
  const fromSlow = again.find((r) => r.peer === 'slow');
  if (fromSlow) {
    p.failed('slow', fromSlow.chunk);
    t.equal(p.peer('slow')!.lapses, 2, 'a failure is a lapse');
    t.equal(p.peer('slow')!.inFlight, again.filter((r) => r.peer === 'slow').length - 1);
  }
  t.same(pairs(p.removePeer('fast')), pairs(again.filter((r) => r.peer === 'fast')), 'a peer that leaves returns its requests');
});

/** A simulated swarm: honest peers answer right, liars send bad bytes, silent peers never answer. */
const swarm = fc.record({
  chunkCount: fc.integer({ min: 1, max: 40 }),
  honest: fc.integer({ min: 1, max: 3 }),
  liars: fc.integer({ min: 0, max: 3 }),
  silent: fc.integer({ min: 0, max: 2 }),
  cap: fc.integer({ min: 1, max: 4 }),
  maxBadChunks: fc.integer({ min: 1, max: 3 }),
  seed: fc.integer(),
});

t.test('properties: every chunk arrives, no banned peer is asked, the cap holds', async (t) => {
  const seed = Date.now();
  t.comment(`fast-check seed ${seed}`);
  fc.assert(
    fc.property(swarm, ({ chunkCount, honest, liars, silent, cap, maxBadChunks, seed }) => {
      const random = prng(seed);
      const p = new PiecePicker({ chunkCount, maxInFlightPerPeer: cap, maxBadChunks, requestTimeoutMs: 5, random: prng(seed + 1) });
      const kinds = new Map<string, 'honest' | 'liar' | 'silent'>();
      const subset = () => range(chunkCount).filter(() => random() < 0.6);
      // Every chunk is held by at least one honest peer; liars and silent peers hold random subsets.
      const owner = range(chunkCount).map(() => Math.floor(random() * honest));
      for (let h = 0; h < honest; h++) {
        kinds.set(`honest-${h}`, 'honest');
        p.announce(`honest-${h}`, haveBitmap(chunkCount, [...subset(), ...range(chunkCount).filter((c) => owner[c] === h)]));
      }
      for (let l = 0; l < liars; l++) kinds.set(`liar-${l}`, 'liar'), p.announce(`liar-${l}`, haveBitmap(chunkCount, subset()));
      for (let s = 0; s < silent; s++) kinds.set(`silent-${s}`, 'silent'), p.announce(`silent-${s}`, haveBitmap(chunkCount, subset()));

      const outstanding = new Map<string, ChunkRequest>();
      const key = (r: ChunkRequest) => `${r.peer}:${r.chunk}`;
      const drop = (requests: ChunkRequest[]) => requests.forEach((r) => outstanding.delete(key(r)));
      // The swarm's own count of bad chunks decides who must be banned, not the picker's.
      const bad = new Map<string, number>();
      const banned = new Set<string>();
      for (let now = 0; !p.done; now++) {
        if (now > 20 * chunkCount + 200) throw new Error(`not done after ${now} ticks, ${p.missing} missing`);
        drop(p.expire(now));
        for (const request of p.next(now)) {
          if (banned.has(request.peer)) throw new Error(`asked banned ${request.peer} for chunk ${request.chunk}`);
          if (outstanding.has(key(request))) throw new Error(`asked ${key(request)} twice at once`);
          outstanding.set(key(request), request);
        }
        for (const id of kinds.keys()) {
          const inFlight = p.peer(id)!.inFlight;
          if (inFlight > cap) throw new Error(`${id} has ${inFlight} requests, cap ${cap}`);
          if (inFlight !== [...outstanding.values()].filter((r) => r.peer === id).length) throw new Error(`${id}: picker and swarm disagree`);
        }
        // Answer a random half of what is outstanding, in random order.
        for (const request of [...outstanding.values()].sort(() => random() - 0.5)) {
          if (random() < 0.5 || !outstanding.has(key(request))) continue;
          const kind = kinds.get(request.peer)!;
          if (kind === 'silent') continue;
          outstanding.delete(key(request));
          drop(p.received(request.peer, request.chunk, kind === 'honest'));
          if (kind === 'liar') bad.set(request.peer, (bad.get(request.peer) ?? 0) + 1);
          if ((bad.get(request.peer) ?? 0) >= maxBadChunks) banned.add(request.peer);
          if (p.peer(request.peer)!.banned !== banned.has(request.peer)) throw new Error(`${request.peer}: banned should be ${banned.has(request.peer)}`);
        }
      }
      return range(chunkCount).every((chunk) => p.has(chunk));
    }),
    { seed, numRuns: 300 },
  );
  t.pass('300 swarms fetched every chunk');
});

t.test('among equally rare chunks, a peer is asked for one it has not sent to anyone', async (t) => {
  const p = picker(8, { maxInFlightPerPeer: 2 });
  p.announce('seed', haveBitmap(8, range(8)));
  p.sentBy('seed', haveBitmap(8, [0, 1, 2, 4, 5, 7]));
  t.same(pairs(p.next(0)), ['seed:3', 'seed:6'], 'the two chunks it has sent no one');

  const q = picker(4);
  q.announce('seed', haveBitmap(4, range(4)));
  q.announce('b', haveBitmap(4, [0, 1]));
  q.sentBy('seed', haveBitmap(4, [2, 3]));
  const fromSeed = q.next(0).filter((r) => r.peer === 'seed');
  t.ok(fromSeed.length === 1 && [2, 3].includes(fromSeed[0]!.chunk), `rarity comes first: a chunk only the seed holds, though sent (${pairs(fromSeed)})`);
  t.doesNotThrow(() => q.sentBy('nobody', haveBitmap(4, [])), 'a peer not announced is ignored');
});

t.test('a peer that points elsewhere for a chunk is not asked for it for twice its chunk time, not even in the endgame', async (t) => {
  const p = picker(2, { maxInFlightPerPeer: 1, elsewhereMs: 1000 });
  p.announce('seed', haveBitmap(2, range(2)));
  const [first] = p.next(0);
  p.received('seed', first!.chunk, true, 3000);
  const [second] = p.next(3000);
  p.elsewhere('seed', second!.chunk, 3000);
  t.same(p.next(3001), [], 'the only chunk left is not asked for, though the seed is free');
  t.same(p.next(8999), [], 'a 3 s chunk keeps it away for 6 s');
  t.same(pairs(p.next(9000)), [`seed:${second!.chunk}`], 'and no longer');
  t.equal(p.peer('seed')!.lapses, 0, 'pointing elsewhere is no lapse');
});
