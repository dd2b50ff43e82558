import t from 'tap';
import { haveBitmap } from './piece-picker.js';
import { MAX_SWARM_PEERS, Swarms } from './swarm.js';

const swarms = (options: Partial<ConstructorParameters<typeof Swarms>[0]> = {}) => new Swarms({ forgetAfterMs: 1000, maxBlobs: 4, maxPeers: 64, activeMs: 500, ...options });

t.test('a requester hears of the other peers that asked lately, latest first, and of the chunks sent', async (t) => {
  const s = swarms();
  t.equal(s.hint('d', 'a', 0), undefined, 'nobody asked yet');
  s.asked('d', 10, 'a', 0);
  s.asked('d', 10, 'b', 100, 3);
  s.asked('d', 10, 'c', 200, 9);
  s.asked('d', 10, 'a', 300, 3);
  t.same(s.hint('d', 'b', 400), { peers: ['a', 'c'], sent: haveBitmap(10, [3, 9]) });
  t.same(s.hint('d', 'a', 400)!.peers, ['c', 'b'], 'never the requester itself');
  t.same(s.hint('d', 'x', 1150)!.peers, ['a', 'c'], 'a peer silent for forgetAfterMs is left out');
  t.equal(s.hint('d', 'x', 1300), undefined, 'a swarm silent for forgetAfterMs is forgotten');
  s.asked('d', 10, 'e', 1400);
  t.same(s.hint('d', 'x', 1400), { peers: ['e'], sent: haveBitmap(10, []) }, 'with what it was sent');
});

t.test('memory stays bounded: peers per blob, blobs, peers per answer', async (t) => {
  const s = swarms({ maxPeers: 40, maxBlobs: 2 });
  for (let i = 0; i < 50; i++) s.asked('d', 8, `p${i}`, i);
  const { peers } = s.hint('d', 'x', 60)!;
  t.equal(peers.length, MAX_SWARM_PEERS, `one answer names at most ${MAX_SWARM_PEERS}`);
  t.equal(peers[0], 'p49', 'the latest first');
  s.asked('d', 8, 'q', 70);
  s.asked('e', 8, 'q', 80);
  s.asked('f', 8, 'q', 90);
  t.equal(s.hint('d', 'x', 95), undefined, 'past maxBlobs, the swarm silent longest is forgotten');
  t.ok(s.hint('e', 'x', 95) && s.hint('f', 'x', 95));
  s.asked('f', 16, 'q', 96, 15);
  t.same(s.hint('f', 'x', 97)!.sent, haveBitmap(16, [15]), 'a blob described in other chunks starts over');
  s.asked('f', 16, 'q', 98, 16);
  t.same(s.hint('f', 'x', 99)!.sent, haveBitmap(16, [15]), 'a chunk past the blob is not recorded');
});

t.test('a chunk sent to one fetcher is passed on by it while some chunk went to no one', async (t) => {
  const s = swarms({ forgetAfterMs: 60_000, activeMs: 5000 });
  t.equal(s.passOn('d', 0, 'b', 0), undefined, 'nothing sent yet');
  s.asked('d', 3, 'a', 0, 0);
  t.equal(s.passOn('d', 0, 'b', 4999), 'a', 'b takes chunk 0 from a while chunks 1 and 2 went to no one');
  t.equal(s.passOn('d', 0, 'b', 5000), undefined, 'but not once a stopped asking: it may be gone');
  t.equal(s.passOn('d', 0, 'a', 10), undefined, 'a itself, asking again, gets it');
  t.equal(s.passOn('d', 1, 'b', 10), undefined, 'a chunk not sent is sent');
  s.asked('d', 3, 'b', 10, 1);
  s.asked('d', 3, 'a', 10, 1);
  t.equal(s.passOn('d', 0, 'c', 20), 'a', 'sending one chunk twice does not count it twice');
  s.asked('d', 3, 'b', 30, 2);
  t.equal(s.passOn('d', 0, 'c', 40), undefined, 'every chunk sent, anything is sent again');
});
