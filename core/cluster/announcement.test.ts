import t from 'tap';
import { ANNOUNCEMENT_LIMITS, decodeAnnouncement, encodeAnnouncement, fitAnnouncement } from './announcement.js';
import { announcement, heldModel } from './test-support.js';
import { CLUSTER_PROTOCOL_VERSION } from './types.js';

const bytesOf = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const valid = announcement('n1', {
  gpus: [{ name: 'H100', backend: 'cuda', vramTotal: 80e9, vramFree: 1e9 }],
  loaded: [
    {
      name: 'tiny:latest',
      model: 'tiny:latest',
      size: 1000,
      digest: 'a'.repeat(64),
      details: { format: 'gguf', families: null },
      expires_at: '2025-01-01T00:05:00.123456789Z',
      size_vram: 0,
      context_length: 4096,
    },
  ],
  load: { inFlight: 2, queued: 1, ttftMs: 12.5, tokensPerSecond: 40, slots: 1, promptTokensPerSecond: 0, loadBytesPerSecond: 0 },
  leaving: true,
  diskFree: 5e11,
  consensus: { address: '10.0.0.2:7000', clusterId: '7f2a07c4-b75c-4abd-ab84-8bcf27151eb8' },
});
valid.models[0]!.capabilities = ['completion', 'tools'];

t.test('an announcement survives encoding whole', async (t) => {
  const decoded = decodeAnnouncement(encodeAnnouncement(valid));
  t.same(decoded, { ok: true, announcement: valid });
});

t.test('fields a peer adds are not kept', async (t) => {
  const decoded = decodeAnnouncement(bytesOf({ ...valid, extra: 'x', load: { ...valid.load, gpuHeat: 3 } }));
  t.ok(decoded.ok);
  if (decoded.ok) {
    t.notOk('extra' in decoded.announcement);
    t.same(Object.keys(decoded.announcement.load), ['inFlight', 'queued', 'ttftMs', 'tokensPerSecond', 'slots', 'promptTokensPerSecond', 'loadBytesPerSecond']);
  }
});

const many = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));
const model0 = valid.models[0]!;

const invalid: [string, Record<string, unknown>, RegExp][] = [
  ['id missing', { id: undefined }, /^id is not a string/],
  ['id empty', { id: '' }, /^id must be 1 to 128/],
  ['id too long', { id: 'x'.repeat(129) }, /^id must be 1 to 128/],
  ['peerId a number', { peerId: 7 }, /^peerId is not a string/],
  ['name with a newline', { name: 'a\nb' }, /^name holds control characters/],
  ['name too long', { name: 'n'.repeat(257) }, /^name must be 1 to 256/],
  ['apiUrl not a URL', { apiUrl: 'not a url' }, /^apiUrl is not a URL/],
  ['apiUrl another scheme', { apiUrl: 'file:///etc/passwd' }, /^apiUrl is not an http or https URL/],
  ['apiUrl with credentials', { apiUrl: 'http://u:p@host:1' }, /^apiUrl must be a bare base URL/],
  ['apiUrl with a query', { apiUrl: 'http://host:1/?x=1' }, /^apiUrl must be a bare base URL/],
  ['version empty', { version: '' }, /^version must be 1 to 128/],
  ['engine a list', { engine: ['sim'] }, /^engine is not a string/],
  ['gpus not a list', { gpus: {} }, /^gpus is not a list/],
  ['too many gpus', { gpus: many(65, () => valid.gpus[0]) }, /^gpus holds 65 entries, more than 64/],
  ['gpu vram negative', { gpus: [{ ...valid.gpus[0], vramFree: -1 }] }, /^gpus\[0\]\.vramFree is not a finite number >= 0/],
  ['gpu vram infinite', { gpus: [{ ...valid.gpus[0], vramTotal: 1e400 }] }, /^gpus\[0\]\.vramTotal is not a finite number/],
  ['too many models', { models: many(ANNOUNCEMENT_LIMITS.models + 1, () => ({})) }, /^models holds 4097 entries, more than 4096/],
  ['model a string', { models: ['tiny'] }, /^models\[0\] is not an object/],
  ['model name empty', { models: [{ ...model0, name: '' }] }, /^models\[0\]\.name must be 1 to 512/],
  ['model digest with prefix', { models: [{ ...model0, digest: `sha256:${'a'.repeat(64)}` }] }, /^models\[0\]\.digest is not a hex sha256 digest/],
  ['model digest upper case', { models: [{ ...model0, digest: 'A'.repeat(64) }] }, /^models\[0\]\.digest is not a hex sha256/],
  ['model modified_at not a time', { models: [{ ...model0, modified_at: 'yesterday' }] }, /^models\[0\]\.modified_at is not a timestamp/],
  ['model size a string', { models: [{ ...model0, size: '1000' }] }, /^models\[0\]\.size is not a finite number/],
  ['model details an array', { models: [{ ...model0, details: [] }] }, /^models\[0\]\.details is not an object/],
  ['model details nested', { models: [{ ...model0, details: { deep: { deeper: 1 } } }] }, /^models\[0\]\.details\.deep is not a list/],
  ['model details with many keys', { models: [{ ...model0, details: Object.fromEntries(many(33, (i) => [`k${i}`, 1] as const)) }] }, /more than 32 keys/],
  ['model details list of objects', { models: [{ ...model0, details: { families: [{}] } }] }, /^models\[0\]\.details\.families\[0\] is not a string/],
  ['model capabilities not a list', { models: [{ ...model0, capabilities: 'tools' }] }, /^models\[0\]\.capabilities is not a list/],
  ['model capability not text', { models: [{ ...model0, capabilities: [1] }] }, /^models\[0\]\.capabilities\[0\] is not a string/],
  ['consensus address not host:port', { consensus: { address: 'nowhere', clusterId: null } }, /^consensus\.address is not host:port/],
  ['consensus cluster id a number', { consensus: { address: '10.0.0.2:7000', clusterId: 7 } }, /^consensus\.clusterId is not a string/],
  ['loaded context length fractional', { loaded: [{ ...valid.loaded[0], context_length: 1.5 }] }, /^loaded\[0\]\.context_length is not an integer/],
  ['loaded expires_at missing', { loaded: [{ ...valid.loaded[0], expires_at: undefined }] }, /^loaded\[0\]\.expires_at is not a string/],
  ['load missing', { load: undefined }, /^load is not an object/],
  ['load inFlight negative', { load: { ...valid.load, inFlight: -1 } }, /^load\.inFlight is not an integer >= 0/],
  ['load slots fractional', { load: { ...valid.load, slots: 1.5 } }, /^load\.slots is not an integer >= 0/],
  ['load prompt speed negative', { load: { ...valid.load, promptTokensPerSecond: -1 } }, /^load\.promptTokensPerSecond is not a finite number/],
  ['load load speed as text', { load: { ...valid.load, loadBytesPerSecond: '9' } }, /^load\.loadBytesPerSecond is not a finite number/],
  ['load ttft NaN (as null in JSON)', { load: { ...valid.load, ttftMs: null } }, /^load\.ttftMs is not a finite number/],
  ['drained a string', { drained: 'false' }, /^drained is not a boolean/],
  ['joinedAt negative', { joinedAt: -5 }, /^joinedAt is not an integer >= 0/],
  ['seq fractional', { seq: 1.5 }, /^seq is not an integer >= 0/],
  ['leaving a number', { leaving: 1 }, /^leaving is not a boolean/],
  ['diskFree negative', { diskFree: -1 }, /^diskFree is not a finite number >= 0/],
];

t.test('every field of a peer message is checked; an invalid one drops the message with its reason', async (t) => {
  for (const [label, change, reason] of invalid) {
    const decoded = decodeAnnouncement(bytesOf({ ...valid, ...change }));
    t.equal(decoded.ok, false, label);
    if (!decoded.ok) t.match(decoded.reason, reason, label);
  }
});

t.test('bytes that are not a JSON object are dropped, never thrown', async (t) => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['not UTF-8', new Uint8Array([0xff, 0xfe, 0x7b]), /not UTF-8 JSON/],
    ['not JSON', new TextEncoder().encode('{"id":'), /not UTF-8 JSON/],
    ['a list', bytesOf([valid]), /message is not an object/],
    ['null', bytesOf(null), /message is not an object/],
    ['empty', new Uint8Array(), /not UTF-8 JSON/],
  ];
  for (const [label, data, reason] of cases) {
    const decoded = decodeAnnouncement(data);
    t.equal(decoded.ok, false, label);
    if (!decoded.ok) t.match(decoded.reason, reason, label);
  }
});

t.test('a message over 1 MiB is dropped before it is parsed', async (t) => {
  const padded = encodeAnnouncement({ ...valid, name: 'x' });
  const big = new Uint8Array(ANNOUNCEMENT_LIMITS.bytes + 1).fill(0x20);
  big.set(padded);
  const decoded = decodeAnnouncement(big);
  t.same(decoded, { ok: false, reason: `message of ${ANNOUNCEMENT_LIMITS.bytes + 1} bytes is larger than ${ANNOUNCEMENT_LIMITS.bytes}` });
  const within = new Uint8Array(ANNOUNCEMENT_LIMITS.bytes).fill(0x20);
  within.set(padded);
  t.equal(decodeAnnouncement(within).ok, true, 'the same message padded to exactly 1 MiB passes');
});

t.test('another protocol version is named, so the node can refuse the peer with it', async (t) => {
  const decoded = decodeAnnouncement(bytesOf({ ...valid, protocol: CLUSTER_PROTOCOL_VERSION + 1, models: 'whatever v2 sends' }));
  t.same(decoded, { ok: false, reason: `speaks cluster protocol ${CLUSTER_PROTOCOL_VERSION + 1}, this node speaks ${CLUSTER_PROTOCOL_VERSION}`, protocol: CLUSTER_PROTOCOL_VERSION + 1 });
  const garbage = decodeAnnouncement(bytesOf({ ...valid, protocol: 'one' }));
  t.same(garbage, { ok: false, reason: 'protocol is not an integer >= 0' }, 'a protocol that is no version is plain invalid');
});

t.test('a node with too many models to announce announces the newest that fit, and says how many it cut', async (t) => {
  const models = many(6000, (i) => heldModel(`model-${String(i).padStart(5, '0')}-${'n'.repeat(200)}:latest`));
  const { bytes, cut } = fitAnnouncement({ ...valid, models });
  t.ok(bytes.byteLength <= ANNOUNCEMENT_LIMITS.bytes, `${bytes.byteLength} bytes fit`);
  const decoded = decodeAnnouncement(bytes);
  t.ok(decoded.ok, 'what it sends passes the checks');
  if (!decoded.ok) return;
  t.equal(decoded.announcement.models.length, 6000 - cut);
  t.ok(cut > 6000 - ANNOUNCEMENT_LIMITS.models, 'cut below the list limit since the bytes limit binds too');
  t.same(decoded.announcement.models.map((m) => m.name), models.slice(0, 6000 - cut).map((m) => m.name), 'the first (newest) models are kept');
  t.same(fitAnnouncement(valid), { bytes: encodeAnnouncement(valid), cut: 0 }, 'a small one is sent whole');
});

t.test('a node of an earlier version, without slots and speeds, counts as one slot with nothing measured', async (t) => {
  const { slots, promptTokensPerSecond, loadBytesPerSecond, ...earlier } = valid.load;
  const decoded = decodeAnnouncement(bytesOf({ ...valid, load: earlier }));
  t.ok(decoded.ok);
  if (decoded.ok) t.same(decoded.announcement.load, { ...earlier, slots: 1, promptTokensPerSecond: 0, loadBytesPerSecond: 0 });
});
