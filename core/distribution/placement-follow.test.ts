// What a node follows of the agreed placements (pure cases), the back-off between failed copies, and
// one real node that reports the replica it holds once its placement names it.

import t from 'tap';
import { startTestNode } from '../../conformance/fixtures/node.js';
import { until } from '../api/forward/test-cluster.js';
import { createTiny, getJson } from '../api/ollama/test-support.js';
import { clusterStateMachine, type ClusterState } from '../cluster/state-machine.js';
import { backoffDelay, placedOn } from './placement-follow.js';

function state(facts: Partial<ClusterState>): ClusterState {
  return { ...clusterStateMachine.initial(), ...facts };
}

t.test('placedOn: the models whose placement names the node, with their agreed digest', async (t) => {
  const models = { 'a:latest': { name: 'a:latest', digest: 'da', replicas: 2 }, 'b:latest': { name: 'b:latest', digest: 'db', replicas: 1 } };
  const cases: [string, Partial<ClusterState>, [string, string][]][] = [
    ['nothing placed', { models }, []],
    ['placed here and elsewhere', { models, placements: { 'a:latest': ['n1', 'n2'], 'b:latest': ['n2'] } }, [['a:latest', 'da']]],
    ['placed on others only', { models, placements: { 'b:latest': ['n2', 'n3'] } }, []],
    ['a placement of a model no longer agreed', { models: {}, placements: { 'a:latest': ['n1'] } }, []],
  ];
  for (const [what, facts, expected] of cases) t.same([...placedOn(state(facts), 'n1')], expected, what);
});

t.test('backoffDelay doubles from the base up to the cap', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 10].map((failures) => backoffDelay(failures, 1000, 30_000)), [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
});

t.test('a lone node reports the copy it holds once its placement names it', async (t) => {
  const node = await startTestNode({ env: { OLLAMA_ENGINE: 'sim' } });
  t.teardown(() => node.stop());
  await createTiny(node.url, 'tiny');
  const entry = async () => (await getJson(node.url, '/api/v1/models/replicas')).models[0];
  await until(async () => (await entry())?.present.length === 1, 15_000, 'tiny reported present');
  t.match(await entry(), { model: 'tiny:latest', placements: [node.node.nodeId], present: [node.node.nodeId] });
});
