// The placement loop in one real node (sim engine), its own consensus leader: a model made here is
// registered with distribution.default_replicas and placed here, and never on more nodes than live.

import t from 'tap';
import { startTestNode } from '../../conformance/fixtures/node.js';
import { until } from '../api/forward/test-cluster.js';
import { createTiny, getJson, postJson } from '../api/ollama/test-support.js';

t.test('a lone node: its models registered with the default replicas, placed on it alone', async (t) => {
  const node = await startTestNode({ env: { OLLAMA_ENGINE: 'sim', OLLAMA_DISTRIBUTION_DEFAULT_REPLICAS: '2' } });
  t.teardown(() => node.stop());
  await createTiny(node.url, 'tiny');
  const entry = async () => (await getJson(node.url, '/api/v1/models/replicas')).models[0];
  await until(async () => (await entry())?.placements.length === 1, 10_000, 'tiny placed');
  t.match(await entry(), { model: 'tiny:latest', replicas: 2, placements: [node.node.nodeId] }, 'two asked, one live node');

  t.equal((await postJson(node.url, '/api/v1/models/replicas', { model: 'tiny', replicas: 5 })).status, 200);
  await until(async () => (await entry()).replicas === 5, 5000, 'five agreed');
  t.same((await entry()).placements, [node.node.nodeId]);
});
