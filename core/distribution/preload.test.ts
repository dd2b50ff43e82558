// What a node preloads and unloads under distribution.preload (pure cases), and one real node that
// keeps the model placed on it loaded, and unloads it once the placement lets it go.

import t from 'tap';
import { startTestNode } from '../../conformance/fixtures/node.js';
import { until } from '../api/forward/test-cluster.js';
import { createTiny, getJson, postJson } from '../api/ollama/test-support.js';
import { preloadChanges } from './preload.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const forever = (name: string) => ({ name, expiresAt: new Date(Date.UTC(9999, 11, 31)) });
const inFiveMinutes = (name: string) => ({ name, expiresAt: new Date(NOW + 300_000) });

t.test('preloadChanges: load what is placed here and not loaded to stay; unload what this node preloaded and no longer holds a placement for', async (t) => {
  const cases: [string, Parameters<typeof preloadChanges>[0], { load: string[]; unload: string[] }][] = [
    ['nothing placed', { placedHere: new Set(), loaded: [], preloaded: new Set(), now: NOW }, { load: [], unload: [] }],
    ['placed, not loaded', { placedHere: new Set(['b', 'a']), loaded: [], preloaded: new Set(), now: NOW }, { load: ['a', 'b'], unload: [] }],
    ['placed and loaded to stay', { placedHere: new Set(['a']), loaded: [forever('a')], preloaded: new Set(['a']), now: NOW }, { load: [], unload: [] }],
    ['placed, a request shortened its stay', { placedHere: new Set(['a']), loaded: [inFiveMinutes('a')], preloaded: new Set(['a']), now: NOW }, { load: ['a'], unload: [] }],
    ['preloaded, placement gone', { placedHere: new Set(), loaded: [forever('a')], preloaded: new Set(['a']), now: NOW }, { load: [], unload: ['a'] }],
    ['preloaded, placement gone, already unloaded', { placedHere: new Set(), loaded: [], preloaded: new Set(['a']), now: NOW }, { load: [], unload: [] }],
    ['loaded by a request, never placed: left alone', { placedHere: new Set(), loaded: [forever('c')], preloaded: new Set(), now: NOW }, { load: [], unload: [] }],
  ];
  for (const [what, input, expected] of cases) t.same(preloadChanges(input), expected, what);
});

t.test('a node with distribution.preload keeps the model placed on it loaded, and unloads it when the placement goes', async (t) => {
  const node = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_DISTRIBUTION_PRELOAD: 'true' } });
  t.teardown(() => node.stop());
  const ps = async () => (await getJson(node.url, '/api/ps')).models as { name: string; expires_at: string }[];
  t.same(await ps(), [], 'nothing loaded at start');
  await createTiny(node.url, 'tiny');
  await until(async () => (await ps()).some((m) => m.name === 'tiny:latest'), 15_000, 'tiny loaded without a request');
  t.ok(Date.parse((await ps())[0]!.expires_at) > Date.now() + 365 * 24 * 3600 * 1000, 'loaded to stay');

  // Drained, the node's placements move off it; with no other node, tiny is placed nowhere.
  const drained = await postJson(node.url, `/api/v1/nodes/${node.node.nodeId}/drain`, {});
  t.equal(drained.status, 200, 'the drain is accepted');
  await until(async () => (await ps()).length === 0, 15_000, 'tiny unloaded once no placement names the node');
  t.pass('unloaded when the placement let it go');
});
