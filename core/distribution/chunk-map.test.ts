import t from 'tap';
import { ChunkMapError, chunkCount, chunkRange, MAX_BLOB_SIZE, MIB, parseChunkMap, type ChunkMap } from './chunk-map.js';

const digest = `sha256:${'ab'.repeat(32)}`;
const good = (): Record<string, unknown> => ({
  digest,
  size: 5 * MIB + 3,
  chunkSize: 2 * MIB,
  algorithm: 'xxh64',
  checksums: ['0123456789abcdef', '0000000000000000', 'ffffffffffffffff'],
});

t.test('chunk count and ranges: fixed chunks, the last one shorter', async (t) => {
  const map = good() as unknown as ChunkMap;
  t.equal(chunkCount(map.size, map.chunkSize), 3);
  t.equal(chunkCount(4 * MIB, 2 * MIB), 2, 'an exact multiple has no empty tail chunk');
  t.equal(chunkCount(0, MIB), 0, 'an empty blob has no chunks');
  t.same(chunkRange(map, 0), { start: 0, end: 2 * MIB });
  t.same(chunkRange(map, 2), { start: 4 * MIB, end: 5 * MIB + 3 });
  for (const index of [-1, 3, 1.5, Number.NaN]) t.throws(() => chunkRange(map, index), RangeError, `chunk ${index} refused`);
});

t.test('a well-formed map parses to a copy with only its fields', async (t) => {
  const input = good();
  const map = parseChunkMap(input, { digest, size: 5 * MIB + 3 });
  t.same(map, input);
  (input.checksums as string[])[0] = 'changed';
  t.equal(map.checksums[0], '0123456789abcdef', 'the result does not share the peer’s array');
  t.same(parseChunkMap({ ...good(), size: 0, checksums: [] }).checksums, [], 'an empty blob');
  const huge = { ...good(), size: MAX_BLOB_SIZE, chunkSize: 64 * MIB, checksums: Array(chunkCount(MAX_BLOB_SIZE, 64 * MIB)).fill('0'.repeat(16)) };
  t.equal(parseChunkMap(huge).size, MAX_BLOB_SIZE, 'the largest size allowed');
});

const bad: [string, unknown, string | RegExp][] = [
  ['not an object', 'map', '(map)'],
  ['null', null, '(map)'],
  ['an array', [], '(map)'],
  ['an extra field', { ...good(), extra: 1 }, 'extra'],
  ['a prototype key', JSON.parse(`{"__proto__": {"x": 1}, "digest": "${digest}"}`), '__proto__'],
  ['no digest', { ...good(), digest: undefined }, 'digest'],
  ['an upper-case digest', { ...good(), digest: digest.toUpperCase() }, 'digest'],
  ['a short digest', { ...good(), digest: 'sha256:abc' }, 'digest'],
  ['another blob’s digest', { ...good(), digest: `sha256:${'cd'.repeat(32)}` }, 'digest'],
  ['a size as a string', { ...good(), size: '5242883' }, 'size'],
  ['a negative size', { ...good(), size: -1 }, 'size'],
  ['a fractional size', { ...good(), size: 5.5 * MIB }, 'size'],
  ['a size over 2 TiB', { ...good(), size: MAX_BLOB_SIZE + 1 }, 'size'],
  ['a size other than the manifest’s', { ...good(), size: 5 * MIB + 4 }, 'size'],
  ['a chunk size under 1 MiB', { ...good(), chunkSize: MIB - 1 }, 'chunkSize'],
  ['a chunk size over 64 MiB', { ...good(), chunkSize: 64 * MIB + 1 }, 'chunkSize'],
  ['a zero chunk size', { ...good(), chunkSize: 0 }, 'chunkSize'],
  ['an unknown algorithm', { ...good(), algorithm: 'md5' }, 'algorithm'],
  ['a missing algorithm', { ...good(), algorithm: undefined }, 'algorithm'],
  ['checksums not an array', { ...good(), checksums: 'abc' }, 'checksums'],
  ['a checksum too few', { ...good(), checksums: ['0123456789abcdef', '0000000000000000'] }, 'checksums'],
  ['a checksum too many', { ...good(), checksums: [...(good().checksums as string[]), '0000000000000000'] }, 'checksums'],
  ['a short checksum', { ...good(), checksums: ['0123456789abcdef', '00', 'ffffffffffffffff'] }, 'checksums[1]'],
  ['an upper-case checksum', { ...good(), checksums: ['0123456789abcdef', '0000000000000000', 'FFFFFFFFFFFFFFFF'] }, 'checksums[2]'],
  ['a number as a checksum', { ...good(), checksums: [1, '0000000000000000', 'ffffffffffffffff'] }, 'checksums[0]'],
];

t.test('a bad map is refused with an error naming the field', async (t) => {
  for (const [what, value, field] of bad) {
    try {
      parseChunkMap(value, { digest, size: 5 * MIB + 3 });
      t.fail(`${what} was accepted`);
    } catch (error) {
      t.type(error, ChunkMapError, what);
      t.equal((error as ChunkMapError).field, field, `${what}: names '${field}'`);
      t.match((error as Error).message, `'${field}'`, `${what}: message names the field`);
      t.equal((error as ChunkMapError).code, 'OD_ERR_BAD_REQUEST');
    }
  }
});
