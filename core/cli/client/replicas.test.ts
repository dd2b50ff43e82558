// The compiled CLI's `replicas` against two real nodes: setting a model's replicas, listing them
// by node name, and the errors a user sees.

import t from 'tap';
import { startCluster, until } from '../../api/forward/test-cluster.js';
import { createTiny, getJson } from '../../api/ollama/test-support.js';
import { replicasTable } from './replicas.js';
import { cli } from './test-cli.js';

t.test('the table names nodes; one the cluster no longer lists shows by id', async (t) => {
  const text = replicasTable(
    [
      { model: 'a:latest', digest: 'd', replicas: 2, placements: ['id-1', 'id-9'], present: ['id-1'] },
      { model: 'b:latest', digest: 'd', replicas: 1, placements: [], present: [] },
    ],
    new Map([['id-1', 'n1']]),
  );
  t.equal(
    text,
    ['MODEL       REPLICAS    PLACED ON    HELD BY', 'a:latest    2           n1, id-9     n1', 'b:latest    1           -            -', ''].join('\n'),
  );
});

t.test('replicas MODEL N through the node at OLLAMA_HOST', async (t) => {
  const [left, right] = await startCluster(t, ['left', 'right']);
  await createTiny(right!.url, 'tiny');
  await until(async () => (await getJson(left!.url, '/api/tags')).models.length === 1, 5000, 'left seeing the model on right');

  const set = await cli(['replicas', 'tiny', '2'], left!.url);
  t.equal(set.code, 0, set.stderr);
  t.equal(set.stdout, 'tiny:latest should be held by 2 nodes\n');
  await until(async () => (await getJson(left!.url, '/api/v1/models/replicas')).models.length === 1, 5000, 'the count agreed');
  const listed = await cli(['replicas'], left!.url);
  t.equal(listed.code, 0, listed.stderr);
  t.match(listed.stdout, /^MODEL\s+REPLICAS\s+PLACED ON\s+HELD BY\ntiny:latest\s+2\s/);

  const unknown = await cli(['replicas', 'nowhere', '2'], left!.url);
  t.equal(unknown.code, 1);
  t.equal(unknown.stderr, "Error: model 'nowhere' not found\n");
  const zero = await cli(['replicas', 'tiny', '0'], left!.url);
  t.equal(zero.stderr, 'Error: replicas must be an integer from 1 to 1000\n', "the node's refusal");
  const words = await cli(['replicas', 'tiny', 'two'], left!.url);
  t.equal(words.code, 1);
  t.equal(words.stderr, 'Error: the replica count must be a whole number, e.g. replicas MODEL 2\n');
});
