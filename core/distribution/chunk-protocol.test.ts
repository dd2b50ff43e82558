import fc from 'fast-check';
import t from 'tap';
import { ChunkProtocolError, parseAnswer } from './chunk-protocol.js';
import { MAX_SWARM_PEERS } from './swarm.js';

const PEER = '12D3KooWFopMsE1NzTrYpfS3z6zirSj3PGbX79uxrF3VBFqNBFVh';
const chunk = (fields: Record<string, unknown>) => ({ type: 'chunk', index: 1, length: 10, ...fields });

t.test("an answer's swarm fields are checked before a fetcher takes them", async (t) => {
  t.same(parseAnswer(chunk({ peers: [PEER], sent: 'gA==' }), 'chunk').peers, [PEER], 'peer ids and a base64 bitmap');
  t.same(parseAnswer({ type: 'map', map: {}, peers: [] }, 'map').peers, []);
  const bad: [string, Record<string, unknown>][] = [
    ['peers not a list', { peers: PEER }],
    ['a peer id with characters base58 lacks', { peers: ['0OIl'] }],
    ['an empty peer id', { peers: [''] }],
    ['a peer id of 129 characters', { peers: ['1'.repeat(129)] }],
    [`${MAX_SWARM_PEERS + 1} peers`, { peers: Array.from({ length: MAX_SWARM_PEERS + 1 }, () => PEER) }],
    ['sent not a string', { sent: [1, 2] }],
  ];
  t.match(parseAnswer({ type: 'elsewhere', index: 2, peer: PEER, peers: [PEER] }, 'chunk'), { type: 'elsewhere', index: 2, peer: PEER }, 'a chunk request may be pointed elsewhere');
  t.throws(() => parseAnswer({ type: 'elsewhere', index: 2, peer: PEER }, 'map'), ChunkProtocolError, 'a map request may not');
  t.throws(() => parseAnswer({ type: 'elsewhere', index: -1, peer: PEER }, 'chunk'), ChunkProtocolError, 'an elsewhere answer needs an index');
  t.throws(() => parseAnswer({ type: 'elsewhere', index: 1, peer: 'not/a/peer' }, 'chunk'), ChunkProtocolError, 'and a peer id');
  for (const [what, fields] of bad) {
    t.throws(() => parseAnswer(chunk(fields), 'chunk'), ChunkProtocolError, what);
    t.throws(() => parseAnswer({ type: 'map', map: {}, ...fields }, 'map'), ChunkProtocolError, `${what}, in a map answer`);
  }
});

t.test('any JSON value as an answer is refused with a protocol error or taken in its checked shape', async (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.constantFrom('map', 'chunk', 'manifest') as fc.Arbitrary<'map' | 'chunk' | 'manifest'>, (value, expected) => {
      try {
        const answer = parseAnswer(value, expected) as { type: string; peers?: unknown };
        return answer.type === expected && (answer.peers === undefined || Array.isArray(answer.peers));
      } catch (error) {
        return (error as { code?: string }).code === 'OD_ERR_BAD_REQUEST' || (error as { code?: string }).code === 'OD_ERR_BLOB_NOT_FOUND';
      }
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 values');
});
